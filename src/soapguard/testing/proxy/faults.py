"""The :class:`Fault` value: which failure the proxy injects, and its text form.

A fault is either *per connection* (chosen when a connection is accepted) or
*per request* (chosen when a request starts on a connection).  Every fault has
a one-line spec such as ``flip-response-record:2`` or ``stall:1.5``, used on
the command line; ``Fault.parse(str(fault)) == fault`` always holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Scope = Literal["connection", "request"]

FLIP_RESPONSE_RECORD = "flip-response-record"
FLIP_REQUEST_RECORD = "flip-request-record"
CORRUPT_HANDSHAKE = "corrupt-handshake"
RST_ON_ACCEPT = "rst-on-accept"
RST_AFTER_REQUEST = "rst-after-request"
CLOSE_MID_BODY = "close-mid-body"
STALL = "stall"
IDLE_RESET = "idle-reset"
CHUNKED_RESPONSE = "chunked-response"
CLOSE_DELIMITED_RESPONSE = "close-delimited-response"
EXPECT_STALL = "expect-stall"

#: what a fault needs to see: TLS records, plaintext HTTP, or either
Needs = Literal["tls", "plain", "any"]

#: kind -> (scope, parameter name or None, what it needs to see)
_KINDS: dict[str, tuple[Scope, str | None, Needs]] = {
    FLIP_RESPONSE_RECORD: ("request", "n", "tls"),
    FLIP_REQUEST_RECORD: ("request", None, "tls"),
    CORRUPT_HANDSHAKE: ("connection", None, "tls"),
    RST_ON_ACCEPT: ("connection", None, "any"),
    RST_AFTER_REQUEST: ("request", None, "any"),
    CLOSE_MID_BODY: ("request", "after", "any"),
    STALL: ("request", "seconds", "any"),
    IDLE_RESET: ("request", "seconds", "any"),
    CHUNKED_RESPONSE: ("request", None, "plain"),
    CLOSE_DELIMITED_RESPONSE: ("request", None, "plain"),
    EXPECT_STALL: ("request", "seconds", "plain"),
}

#: upper bound for the seconds of ``stall``, ``idle-reset`` and ``expect-stall``, so a
#: typo cannot park a connection for days
MAX_STALL_SECONDS = 3600.0

#: every spec form, for help texts: ``flip-response-record:N``, ..., ``stall:SECONDS``
SPEC_FORMS: tuple[str, ...] = tuple(
    f"{kind}:{'SECONDS' if param == 'seconds' else 'N'}" if param else kind
    for kind, (_, param, _) in _KINDS.items()
)
_FORMS = ", ".join(SPEC_FORMS)


@dataclass(frozen=True)
class Fault:
    """One failure to inject.  Build it with the classmethods or :meth:`parse`.

    Only the parameter that belongs to ``kind`` is set: ``n`` for
    ``flip-response-record``, ``after`` for ``close-mid-body``, ``seconds``
    for ``stall``, ``idle-reset`` and ``expect-stall``.
    """

    kind: str
    n: int | None = None
    after: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of: {_FORMS}")
        param = _KINDS[self.kind][1]
        for name in ("n", "after", "seconds"):
            value = getattr(self, name)
            if name != param and value is not None:
                raise ValueError(f"fault {self.kind!r} takes no parameter {name!r}")
        if param == "n" and (type(self.n) is not int or self.n < 1):
            raise ValueError(f"{self.kind}: n must be an integer >= 1, got {self.n!r}")
        if param == "after" and (type(self.after) is not int or self.after < 0):
            raise ValueError(f"{self.kind}: after must be an integer >= 0, got {self.after!r}")
        if param == "seconds":
            seconds = self.seconds
            if (
                not isinstance(seconds, (int, float))
                or isinstance(seconds, bool)
                or not math.isfinite(seconds)
                or not 0 < seconds <= MAX_STALL_SECONDS
            ):
                raise ValueError(
                    f"{self.kind}: seconds must be a number in (0, {MAX_STALL_SECONDS:g}], "
                    f"got {seconds!r}"
                )
            object.__setattr__(self, "seconds", float(seconds))

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def flip_response_record(cls, n: int = 1) -> Fault:
        """Damage the ``n``-th application-data record of the next response."""
        return cls(FLIP_RESPONSE_RECORD, n=n)

    @classmethod
    def flip_request_record(cls) -> Fault:
        """Damage the first application-data record of the next request."""
        return cls(FLIP_REQUEST_RECORD)

    @classmethod
    def corrupt_handshake(cls) -> Fault:
        """Damage the server's first encrypted handshake record on the next connection."""
        return cls(CORRUPT_HANDSHAKE)

    @classmethod
    def rst_on_accept(cls) -> Fault:
        """Reset the next connection as soon as it is accepted."""
        return cls(RST_ON_ACCEPT)

    @classmethod
    def rst_after_request(cls) -> Fault:
        """Forward the next request, then reset the client before any response byte."""
        return cls(RST_AFTER_REQUEST)

    @classmethod
    def close_mid_body(cls, after: int) -> Fault:
        """Close the client (FIN) once ``after`` bytes of the next response went through."""
        return cls(CLOSE_MID_BODY, after=after)

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Hold the next response for ``seconds`` before forwarding it."""
        return cls(STALL, seconds=seconds)

    @classmethod
    def idle_reset(cls, seconds: float) -> Fault:
        """Reset, without forwarding it, the next request that arrives on a connection that
        was idle at least ``seconds`` (a peer or firewall that forgot an idle connection)."""
        return cls(IDLE_RESET, seconds=seconds)

    @classmethod
    def chunked_response(cls) -> Fault:
        """Plain HTTP: re-frame the next response with ``Transfer-Encoding: chunked``."""
        return cls(CHUNKED_RESPONSE)

    @classmethod
    def close_delimited_response(cls) -> Fault:
        """Plain HTTP: send the next response without ``Content-Length``, then close."""
        return cls(CLOSE_DELIMITED_RESPONSE)

    @classmethod
    def expect_stall(cls, seconds: float) -> Fault:
        """Plain HTTP: hold the next request that carries ``Expect: 100-continue`` for
        ``seconds`` (an intermediary that ignores the header: no ``100 Continue`` comes)."""
        return cls(EXPECT_STALL, seconds=seconds)

    # -- properties ---------------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        """``"connection"`` or ``"request"``: when the fault is taken from the queue."""
        return _KINDS[self.kind][0]

    @property
    def needs_tls(self) -> bool:
        """True if the fault works on TLS records and so cannot apply to plain TCP."""
        return _KINDS[self.kind][2] == "tls"

    @property
    def needs_plain(self) -> bool:
        """True if the fault reads or rewrites HTTP, which it cannot do inside TLS."""
        return _KINDS[self.kind][2] == "plain"

    # -- text form ----------------------------------------------------------------------

    def __str__(self) -> str:
        if self.n is not None:
            return f"{self.kind}:{self.n}"
        if self.after is not None:
            return f"{self.kind}:{self.after}"
        if self.seconds is not None:
            s = self.seconds
            return f"{self.kind}:{int(s)}" if s.is_integer() else f"{self.kind}:{s!r}"
        return self.kind

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse a spec such as ``close-mid-body:4096``; raise ``ValueError`` if invalid."""
        if not isinstance(spec, str):
            raise ValueError(f"fault spec must be a string, got {type(spec).__name__}")
        kind, sep, arg = spec.strip().partition(":")
        kind = kind.strip().lower().replace("_", "-")
        arg = arg.strip()
        if kind not in _KINDS:
            raise ValueError(f"unknown fault {spec!r}; expected one of: {_FORMS}")
        param = _KINDS[kind][1]
        if param is None:
            if sep:
                raise ValueError(f"fault {kind!r} takes no argument, got {spec!r}")
            return cls(kind)
        if not arg:
            if param == "n" and not sep:
                return cls(kind, n=1)
            form = "SECONDS" if param == "seconds" else "N"
            raise ValueError(f"fault {kind!r} needs an argument: {kind}:{form}")
        try:
            if param == "seconds":
                return cls(kind, seconds=float(arg))
            value = int(arg, 10)
        except ValueError as exc:
            raise ValueError(f"invalid argument in fault spec {spec!r}: {exc}") from None
        return cls(kind, **{param: value})
