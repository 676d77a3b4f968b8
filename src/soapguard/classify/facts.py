"""What the classification rules read (:class:`Facts`) and what they conclude (:class:`Verdict`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..transport.evidence import Attempt, Phase
from ._util import first, safe_getattr, safe_str
from .tls import Origin

__all__ = ["TYPES", "Facts", "Verdict"]

#: every error.type an exception can be classified as (``circuit.open`` is raised by the
#: attempt loop itself, never classified from an exception)
TYPES = frozenset(
    {
        *("tls.bad_record_mac", "tls.unexpected_eof", "tls.handshake_failure"),
        *("tls.protocol_version", "tls.no_shared_cipher", "tls.certificate", "tls.other"),
        *("connection.refused", "connection.reset", "connection.dns"),
        *("timeout.connect", "timeout.read", "timeout.deadline", "timeout.pool"),
        *("http.status", "soap.fault", "response.invalid", "tls.record_overflow"),
        *("tls.legacy_renegotiation", "tls.dh_key_too_small", "tls.renegotiation_refused"),
        "tls.pin_mismatch",
    }
)


@dataclass(frozen=True)
class Facts:
    """What the rules look at: the exception chain and what the attempt observed (or ``None``)."""

    chain: list[BaseException]
    attempt: Attempt | None

    def find(self, test: Callable[[BaseException], bool]) -> BaseException | None:
        return first(self.chain, test)

    def over_tls(self) -> bool:
        """Whether the connection was TLS, as far as the evidence tells."""
        conn = self.attempt.conn if self.attempt is not None else None
        if conn is not None:
            return conn.tls_version is not None
        for exc in self.chain:
            url = safe_getattr(safe_getattr(exc, "request"), "url")
            scheme = safe_getattr(safe_getattr(exc, "pool"), "scheme")
            if url is not None and not isinstance(url, str):  # an httpx.URL
                url = safe_str(url)
            if isinstance(url, str) and url.lower().startswith("https:"):
                return True
            if scheme == "https":
                return True
        return False


@dataclass(frozen=True)
class Verdict:
    type: str
    evidence: BaseException
    origin: Origin | None = None
    #: the phase the exception alone implies (``None``: cannot tell)
    phase: Phase | None = None
    #: certain, from the exception alone, that no request byte left
    not_sent: bool = False
    library: str | None = None
    reason: str | None = None
    http_status: int | None = None
