"""What the ledger server's connection threads share: documents, counters, injected replies."""

from __future__ import annotations

import collections
import itertools
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path

from lxml import etree

from . import soap
from .handler import Framing, Reply

__all__ = ["LedgerState", "rewrite_address"]

_WSDL_ADDRESS_TAGS = (
    "{http://schemas.xmlsoap.org/wsdl/soap/}address",
    "{http://schemas.xmlsoap.org/wsdl/soap12/}address",
)


class LedgerState:
    """What the connection threads share: documents, counters, pending injected failures."""

    def __init__(self, directory: Path, main_wsdl: str) -> None:
        self.lock = threading.Lock()
        self.main_wsdl = main_wsdl
        self.files = {
            path.name: path.read_bytes()
            for path in sorted(directory.iterdir())
            if path.suffix in (".wsdl", ".xsd") and path.is_file()
        }
        self.served: dict[str, bytes] = {}
        self.by_request_id: collections.Counter[str] = collections.Counter()
        self.by_operation: collections.Counter[str] = collections.Counter()
        self.nonces: list[str] = []
        self.message_ids: list[str | None] = []
        self.requests_seen = 0
        #: headers of the most recent POSTs, oldest first
        self.request_headers: collections.deque[dict[str, str]] = collections.deque(maxlen=1000)
        self.injected: collections.deque[Reply] = collections.deque()
        self.framings: collections.deque[Framing] = collections.deque()
        self._transfer_ids = itertools.count(1)
        self._transfer_prefix = f"TX-{secrets.token_hex(4)}-"

    def publish(self, url: str) -> None:
        """Prepare the served documents, WSDL addresses rewritten to ``url``."""
        self.served = {
            name: rewrite_address(body, url) if name.endswith(".wsdl") else body
            for name, body in self.files.items()
        }

    def document(self, name: str | None) -> bytes | None:
        return self.served.get(self.main_wsdl if name is None else name)

    def answer_post(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        try:
            request: soap.SoapRequest | None = soap.parse_request(body)
            fault = None
        except soap.SoapFault as exc:
            request, fault = None, exc
        with self.lock:
            self.requests_seen += 1
            self.request_headers.append(dict(headers))
            if request is not None:
                self.nonces.extend(request.nonces)
                self.message_ids.append(request.message_id)
            injected = self.injected.popleft() if self.injected else None
            if injected is None and request is not None and request.operation in soap.OPERATIONS:
                self.by_operation[request.operation] += 1
                if request.request_id is not None:
                    self.by_request_id[request.request_id] += 1
        if injected is not None:
            return injected
        env_ns = request.envelope_ns if request is not None else soap.SOAP11_NS
        headers = {"Content-Type": soap.CONTENT_TYPES[env_ns]}
        try:
            if fault is not None:
                raise fault
            assert request is not None
            payload = soap.execute(request, self._next_transfer_id)
        except soap.SoapFault as exc:
            return 500, headers, soap.fault_envelope(env_ns, exc)
        return 200, headers, soap.envelope(env_ns, payload)

    def framing(self) -> Framing:
        with self.lock:
            return self.framings.popleft() if self.framings else "length"

    def _next_transfer_id(self) -> str:
        with self.lock:
            return f"{self._transfer_prefix}{next(self._transfer_ids):08d}"


def rewrite_address(wsdl: bytes, url: str) -> bytes:
    root = etree.fromstring(wsdl, etree.XMLParser(resolve_entities=False, no_network=True))
    for tag in _WSDL_ADDRESS_TAGS:
        for address in root.iter(tag):
            address.set("location", url)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
