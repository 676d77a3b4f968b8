"""One WS-Addressing MessageID for every attempt of a call.

zeep's WS-Addressing support (the ``WsAddressingPlugin``, or an operation with a
``wsa:Action`` in its WSDL) writes a new random ``wsa:MessageID`` each time it builds an
envelope -- and soapguard rebuilds the envelope on every attempt, so that WS-Security
nonces and timestamps are fresh.  A server that deduplicates on the MessageID would
then see three different messages for one call.  :class:`MessageIdentity` runs last
among the plugins of an attempt (after WS-Addressing, before WS-Security signs) and
sets the call's own MessageID, so every attempt carries the same one.  An envelope
without WS-Addressing is left untouched.
"""

from __future__ import annotations

from typing import Any

from zeep import Plugin

WSA_NAMESPACES = (
    "http://www.w3.org/2005/08/addressing",
    "http://schemas.xmlsoap.org/ws/2004/08/addressing",
)


class MessageIdentity(Plugin):
    """Sets ``wsa:MessageID`` to the call's own id on every attempt."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id

    def egress(
        self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any
    ) -> tuple[Any, Any]:
        for namespace in WSA_NAMESPACES:
            for element in envelope.iter(f"{{{namespace}}}MessageID"):
                element.text = self.message_id
        return envelope, http_headers
