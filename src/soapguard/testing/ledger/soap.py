"""SOAP side of the embedded ledger server: parse requests, run operations, build replies.

Pure functions over bytes and lxml elements, no I/O and no shared state, so the
HTTP layer in :mod:`soapguard.testing.ledger` stays small.  Both SOAP 1.1 and
SOAP 1.2 envelopes are understood; a reply always uses the request's version.
The operations implement ``wsdl/ledger.wsdl`` (namespace ``urn:soapguard:ledger``).
"""

from __future__ import annotations

import datetime
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from lxml import etree

LEDGER_NS = "urn:soapguard:ledger"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
WSA_NAMESPACES = (
    "http://www.w3.org/2005/08/addressing",
    "http://schemas.xmlsoap.org/ws/2004/08/addressing",
)
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
CONTENT_TYPES = {
    SOAP11_NS: "text/xml; charset=utf-8",
    SOAP12_NS: "application/soap+xml; charset=utf-8",
}
OPERATIONS = ("GetBalance", "GetStatement", "Transfer", "Reject")
#: upper bound on GetStatement ``lines`` (about 7 MB of XML) so a test cannot exhaust memory
MAX_STATEMENT_LINES = 50_000

_XML_NS = "http://www.w3.org/XML/1998/namespace"
# No DTDs, no entity expansion, no network: request bodies are untrusted input.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)
_STATEMENT_START = datetime.date(2024, 1, 1)


class SoapFault(Exception):
    """A fault to send back; ``sender`` selects soap:Client/Sender over soap:Server/Receiver."""

    def __init__(self, reason: str, *, sender: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sender = sender


@dataclass(frozen=True)
class SoapRequest:
    """One parsed SOAP request: envelope version, operation and its flat parameters."""

    envelope_ns: str
    #: local name of the body's first element, ``None`` when it is not in the ledger namespace
    operation: str | None
    params: dict[str, str] = field(default_factory=dict)
    #: WS-Security UsernameToken nonces found in the header, in document order
    nonces: tuple[str, ...] = ()
    #: the WS-Addressing MessageID in the header, if any
    message_id: str | None = None

    @property
    def request_id(self) -> str | None:
        return self.params.get("requestId") or None


def parse_request(body: bytes) -> SoapRequest:
    """Parse a request envelope; raise :class:`SoapFault` if it is not a SOAP envelope."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault(f"request is not well-formed XML: {exc}") from None
    qname = etree.QName(root)
    if qname.localname != "Envelope" or qname.namespace not in CONTENT_TYPES:
        raise SoapFault("request is not a SOAP 1.1 or 1.2 Envelope")
    env_ns = qname.namespace
    nonces = tuple(
        (nonce.text or "").strip()
        for nonce in root.iterfind(f"{{{env_ns}}}Header/{{{WSSE_NS}}}Security//{{{WSSE_NS}}}Nonce")
    )
    payload = next(iter(root.iterfind(f"{{{env_ns}}}Body/*")), None)
    if payload is None:
        raise SoapFault("SOAP Body is missing or empty")
    payload_name = etree.QName(payload)
    operation = payload_name.localname if payload_name.namespace == LEDGER_NS else None
    params = {
        etree.QName(child).localname: (child.text or "").strip()
        for child in payload
        if isinstance(child.tag, str)
    }
    message_id = next(
        (
            (node.text or "").strip()
            for ns in WSA_NAMESPACES
            for node in root.iterfind(f"{{{env_ns}}}Header/{{{ns}}}MessageID")
        ),
        None,
    )
    return SoapRequest(env_ns, operation, params, nonces, message_id)


def execute(request: SoapRequest, next_transfer_id: Callable[[], str]) -> etree._Element:
    """Run the request's operation and return the response payload element.

    Raises :class:`SoapFault` for ``Reject`` and for invalid parameters.
    """
    if request.operation == "GetBalance":
        return _get_balance(request.params)
    if request.operation == "GetStatement":
        return _get_statement(request.params)
    if request.operation == "Transfer":
        return _transfer(request.params, next_transfer_id)
    if request.operation == "Reject":
        raise SoapFault(request.params.get("reason") or "request rejected")
    raise SoapFault(f"unknown operation {request.operation!r}")


def envelope(envelope_ns: str, payload: etree._Element) -> bytes:
    """Serialize ``payload`` inside a SOAP envelope of the given version."""
    env = etree.Element(f"{{{envelope_ns}}}Envelope", nsmap={"soap": envelope_ns})
    etree.SubElement(env, f"{{{envelope_ns}}}Body").append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault_envelope(envelope_ns: str, fault: SoapFault) -> bytes:
    """Serialize ``fault`` as a SOAP 1.1 or SOAP 1.2 Fault envelope."""
    env = etree.Element(f"{{{envelope_ns}}}Envelope", nsmap={"soap": envelope_ns})
    body = etree.SubElement(env, f"{{{envelope_ns}}}Body")
    node = etree.SubElement(body, f"{{{envelope_ns}}}Fault")
    if envelope_ns == SOAP12_NS:
        code = etree.SubElement(node, f"{{{SOAP12_NS}}}Code")
        value = "soap:Sender" if fault.sender else "soap:Receiver"
        etree.SubElement(code, f"{{{SOAP12_NS}}}Value").text = value
        reason = etree.SubElement(node, f"{{{SOAP12_NS}}}Reason")
        text = etree.SubElement(reason, f"{{{SOAP12_NS}}}Text")
        text.set(f"{{{_XML_NS}}}lang", "en")
        text.text = fault.reason
    else:
        code_text = "soap:Client" if fault.sender else "soap:Server"
        etree.SubElement(node, "faultcode").text = code_text
        etree.SubElement(node, "faultstring").text = fault.reason
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise SoapFault(f"missing or empty element {name!r}")
    return value


def _decimal(params: dict[str, str], name: str) -> Decimal:
    try:
        value = Decimal(_required(params, name))
    except InvalidOperation:
        raise SoapFault(f"element {name!r} is not a decimal") from None
    if not value.is_finite():
        raise SoapFault(f"element {name!r} is not a finite decimal")
    return value


def _response(operation: str, **children: str) -> etree._Element:
    node = etree.Element(f"{{{LEDGER_NS}}}{operation}Response", nsmap={"tns": LEDGER_NS})
    for name, text in children.items():
        etree.SubElement(node, f"{{{LEDGER_NS}}}{name}").text = text
    return node


def balance_of(account: str) -> Decimal:
    """The (deterministic, made-up) balance of ``account``."""
    cents = zlib.crc32(account.encode("utf-8")) % 100_000_000
    return Decimal(cents).scaleb(-2)


def _get_balance(params: dict[str, str]) -> etree._Element:
    account = _required(params, "account")
    return _response(
        "GetBalance", account=account, balance=str(balance_of(account)), currency="EUR"
    )


def _get_statement(params: dict[str, str]) -> etree._Element:
    account = _required(params, "account")
    try:
        lines = int(_required(params, "lines"))
    except ValueError:
        raise SoapFault("element 'lines' is not an integer") from None
    if not 0 <= lines <= MAX_STATEMENT_LINES:
        raise SoapFault(f"element 'lines' must be between 0 and {MAX_STATEMENT_LINES}")
    node = _response("GetStatement", account=account)
    for i in range(lines):
        entry = etree.SubElement(node, f"{{{LEDGER_NS}}}entry")
        day = _STATEMENT_START + datetime.timedelta(days=i % 366)
        etree.SubElement(entry, f"{{{LEDGER_NS}}}date").text = day.isoformat()
        etree.SubElement(
            entry, f"{{{LEDGER_NS}}}description"
        ).text = f"Statement line {i + 1:06d} for account {account}: card payment"
        cents = (i * 7919) % 100_000 - 50_000
        etree.SubElement(entry, f"{{{LEDGER_NS}}}amount").text = str(Decimal(cents).scaleb(-2))
    return node


def _transfer(params: dict[str, str], next_transfer_id: Callable[[], str]) -> etree._Element:
    _required(params, "fromAccount")
    _required(params, "toAccount")
    if _decimal(params, "amount") <= 0:
        raise SoapFault("element 'amount' must be positive")
    return _response("Transfer", transferId=next_transfer_id(), status="BOOKED")
