"""The ``SOAPGUARD_*`` variables: one row per :class:`~soapguard.Config` field, and their parsers.

A parser turns the raw text of a variable into the field's value, or raises
``ValueError`` when the text is not of the right form; ranges and rules that
involve several fields are checked afterwards, on the value, in
:mod:`soapguard.config._rules`, so a value set in code gets exactly the same
checks.  Keywords (booleans, profiles) are read in any case; names, patterns,
paths and URLs keep theirs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "SOAPGUARD_"
TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
PROFILES = ("modern", "intermediate", "legacy")
#: the longest echo of a value in an error message
SHOWN_MAX = 40
#: an upper bound on every duration: far beyond any sensible setting, and well inside what
#: sockets, locks and clocks accept (about 9.2e9 s overflows a nanosecond timeout)
MAX_SECONDS = 86400.0
#: sizes a TLS client may ask the server to cap its records at (max_fragment_length)
PIN_PREFIX = "sha256/"


def parse_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):  # "inf" and "nan" parse, then break timeouts much later
        raise ValueError(raw)
    return value


def parse_int(raw: str) -> int:
    return int(raw.strip(), 10)


def parse_bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise ValueError(raw)


def parse_keyword(raw: str) -> str:
    return raw.strip().lower()


def parse_str(raw: str) -> str:
    return raw.strip()


def parse_raw(raw: str) -> str:
    """Unchanged: spaces in a password are part of it."""
    return raw


def parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def parse_pins(raw: str) -> tuple[str, ...]:
    return tuple(normalize_pin(part) for part in parse_list(raw))


def normalize_pin(pin: str) -> str:
    """``SHA256/abc=`` -> ``sha256/abc=``: the algorithm is a keyword, the hash is not."""
    if pin[: len(PIN_PREFIX)].lower() == PIN_PREFIX:
        return PIN_PREFIX + pin[len(PIN_PREFIX) :]
    return pin


@dataclass(frozen=True)
class Var:
    env: str
    parse: Callable[[str], Any]
    expected: str
    #: the value may be sensitive: never echo it, in errors or in ``soapguard config``
    secret: bool = False
    #: the value holds URLs: echo them only with credentials masked
    urls: bool = False


_SECONDS = f"seconds, a number > 0 and at most {MAX_SECONDS:g}"
_PIN_FORM = f"comma-separated {PIN_PREFIX}<base64 of a 32-byte SHA-256 hash of a public key>"

# field name -> how it is read from the environment
VARS: dict[str, Var] = {
    "tls_profile": Var("TLS_PROFILE", parse_keyword, "one of modern, intermediate, legacy"),
    "tls_min_version": Var("TLS_MIN_VERSION", parse_keyword, "one of 1.0, 1.1, 1.2, 1.3"),
    "tls_max_version": Var("TLS_MAX_VERSION", parse_keyword, "one of 1.0, 1.1, 1.2, 1.3"),
    "tls_security_level": Var("TLS_SECURITY_LEVEL", parse_int, "0, 1 or 2"),
    "tls_legacy_renegotiation": Var("TLS_LEGACY_RENEGOTIATION", parse_bool, "true or false"),
    "ciphers": Var("CIPHERS", parse_str, "an OpenSSL cipher string"),
    "tls13_ciphersuites": Var(
        "TLS13_CIPHERSUITES", parse_str, "colon-separated TLS 1.3 suite names (TLS_...)"
    ),
    "max_record_size": Var("MAX_RECORD_SIZE", parse_int, "an integer from 512 to 16384"),
    "ca_bundle": Var("CA_BUNDLE", parse_str, "an existing CA file or directory", secret=True),
    "client_cert": Var("CLIENT_CERT", parse_str, "an existing certificate file", secret=True),
    "client_key": Var("CLIENT_KEY", parse_str, "an existing key file", secret=True),
    "client_key_password": Var(
        "CLIENT_KEY_PASSWORD", parse_raw, "the password of the client key", secret=True
    ),
    "pinned_keys": Var("PINNED_KEYS", parse_pins, _PIN_FORM),
    "cert_expiry_warning": Var("CERT_EXPIRY_WARNING", parse_int, "days, an integer from 0 to 3650"),
    "connect_timeout": Var("CONNECT_TIMEOUT", parse_float, _SECONDS),
    "read_timeout": Var("READ_TIMEOUT", parse_float, _SECONDS),
    "deadline": Var("DEADLINE", parse_float, _SECONDS),
    "max_attempts": Var("MAX_ATTEMPTS", parse_int, "an integer from 1 to 10"),
    "backoff_initial": Var(
        "BACKOFF_INITIAL", parse_float, f"seconds, a number >= 0 and at most {MAX_SECONDS:g}"
    ),
    "backoff_max": Var(
        "BACKOFF_MAX", parse_float, f"seconds, a number >= 0 and at most {MAX_SECONDS:g}"
    ),
    "idempotent_operations": Var(
        "IDEMPOTENT_OPERATIONS", parse_list, "comma-separated glob patterns"
    ),
    "idempotency_header": Var(
        "IDEMPOTENCY_HEADER", parse_str, "an HTTP header name such as Idempotency-Key"
    ),
    "retry_budget": Var("RETRY_BUDGET", parse_float, "a ratio from 0 to 1"),
    "pool_idle_timeout": Var("POOL_IDLE_TIMEOUT", parse_float, _SECONDS),
    "pool_max_age": Var("POOL_MAX_AGE", parse_float, _SECONDS),
    "pool_maxsize": Var("POOL_MAXSIZE", parse_int, "an integer from 1 to 1000"),
    "failover_addresses": Var(
        "FAILOVER_ADDRESSES",
        parse_list,
        "comma-separated absolute http:// or https:// URLs with a host",
        urls=True,
    ),
    "circuit_breaker": Var("CIRCUIT_BREAKER", parse_bool, "true or false"),
    "breaker_failure_ratio": Var("BREAKER_FAILURE_RATIO", parse_float, "a ratio > 0 and at most 1"),
    "breaker_min_calls": Var("BREAKER_MIN_CALLS", parse_int, "an integer >= 1"),
    "breaker_window": Var("BREAKER_WINDOW", parse_float, _SECONDS),
    "breaker_open_seconds": Var("BREAKER_OPEN_SECONDS", parse_float, _SECONDS),
    "diagnostics_file": Var("DIAGNOSTICS_FILE", parse_str, "a writable file path", secret=True),
    "sensitive_elements": Var(
        "SENSITIVE_ELEMENTS", parse_list, "comma-separated XML local names", secret=True
    ),
    "log_payloads": Var("LOG_PAYLOADS", parse_bool, "true or false"),
}


def env_name(field_name: str) -> str:
    """The variable behind a Config field: ``max_attempts`` is ``SOAPGUARD_MAX_ATTEMPTS``."""
    return ENV_PREFIX + VARS[field_name].env


def truncate(text: str) -> str:
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 3] + "..."


def mask_urls(value: Any) -> Any:
    """``value`` (a URL, or a sequence of them) with credentials and tokens masked."""
    from ..diagnostics.redact import redact_url  # lxml is imported there: only when a URL is shown

    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, tuple | list):
        return [redact_url(v) if isinstance(v, str) else v for v in value]
    return value


def got(name: str, value: Any) -> str:
    """``", got 'value'"`` for an error message: truncated, URLs masked, secrets never."""
    var = VARS[name]
    if var.secret:
        return ""
    if var.urls:
        value = mask_urls(value)
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
    shown = repr(truncate(value)) if isinstance(value, str) else truncate(repr(value))
    return f", got {shown}"
