"""What every hint rule is made of: the rule type and small readers of event evidence.

Rules only read the event (its dotted keys); a missing or ``None`` field never makes a
rule fire.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Event = Mapping[str, Any]

_AEAD_MARKERS = ("GCM", "CHACHA20", "CCM", "POLY1305")


@dataclass(frozen=True)
class HintRule:
    """``sentence(event)`` is the hint when ``applies(event)`` is true."""

    name: str
    applies: Callable[[Event], bool]
    sentence: Callable[[Event], str]


def is_cbc_suite(cipher: str | None) -> bool:
    """Whether an OpenSSL or IANA suite name is a CBC (non-AEAD) suite."""
    if not cipher:
        return False
    name = cipher.upper()
    return "CBC" in name or not any(marker in name for marker in _AEAD_MARKERS)


def integer(event: Event, key: str) -> int | None:
    value = event.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def number(event: Event, key: str) -> float | None:
    value = event.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def is_type(event: Event, error_type: str, origin: str | None = None) -> bool:
    return event.get("error.type") == error_type and (
        origin is None or event.get("error.origin") == origin
    )


def when(error_type: str) -> Callable[[Event], bool]:
    return lambda event: event.get("error.type") == error_type


def reason(decision_reason: str) -> Callable[[Event], bool]:
    return lambda event: event.get("decision_reason") == decision_reason


def text(sentence: str) -> Callable[[Event], str]:
    return lambda event: sentence


def cipher(event: Event) -> str:
    return str(event.get("tls.cipher") or "an unrecorded cipher")


def message(event: Event) -> str:
    value = event.get("error.message")
    return value if isinstance(value, str) else ""


def target(event: Event) -> str:
    """``host:port`` of the event's server, or a phrase when it is not recorded."""
    host, port = event.get("server.address"), integer(event, "server.port")
    if not host:
        return "the server"
    return f"{host}:{port}" if port is not None else str(host)
