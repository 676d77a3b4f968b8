"""The result of classifying one failed attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..transport.evidence import Phase, RequestSent

Origin = Literal["local", "peer"]
Outcome = Literal["failed", "unknown"]


@dataclass(frozen=True)
class Failure:
    """One classified failure: its ``error.type`` and how far the request got.

    Built only by :func:`soapguard.classify.classify`.
    """

    #: the taxonomy's ``error.type``, e.g. ``"tls.bad_record_mac"``
    type: str
    #: ``"local"`` (we rejected the peer's record / we sent the alert) or ``"peer"``
    #: (the peer's alert) for TLS alerts and integrity failures, else ``None``
    origin: Origin | None
    #: short, redacted human message (the innermost meaningful one)
    message: str
    phase: Phase | None = None
    request_sent: RequestSent = "none"
    #: OpenSSL library/reason from ``ssl.SSLError`` when available
    library: str | None = None
    reason: str | None = None
    http_status: int | None = None
    #: seconds, parsed from a ``Retry-After`` response header
    retry_after: float | None = None

    @property
    def outcome(self) -> Outcome:
        """Whether the operation may have run on the server: ``unknown`` unless nothing
        left (``request_sent: none``) or the server itself answered with an error."""
        if self.request_sent == "none" or self.type in ("http.status", "soap.fault"):
            return "failed"
        return "unknown"
