"""Configuration: ``SOAPGUARD_*`` environment → one frozen :class:`Config`.

Precedence is *explicit argument > environment > default*:

* ``Config(...)`` is a plain value: every field you do not pass has its
  documented default and the environment is **not** consulted.  This keeps
  code (and tests) deterministic.
* ``Config.from_env(environ=None, **overrides)`` layers the overrides on top
  of the ``SOAPGUARD_*`` variables on top of the defaults.  This is what
  ``soapguard.Client(wsdl)`` uses when no ``config`` is given.

Every variable is parsed and validated up front; a bad value raises
:class:`ConfigError` (a ``ValueError``) naming *every* bad variable and the
expected form.  Values of variables that may hold secrets are never echoed.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from .errors import ConfigError

Profile = Literal["modern", "intermediate", "legacy"]
EventHook = Callable[[dict[str, Any]], None]

TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
PROFILES = ("modern", "intermediate", "legacy")
ENV_PREFIX = "SOAPGUARD_"


def _parse_float(raw: str) -> float:
    return float(raw)


def _parse_int(raw: str) -> int:
    return int(raw, 10)


def _parse_bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise ValueError(raw)


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _parse_str(raw: str) -> str:
    return raw.strip()


@dataclass(frozen=True)
class _Var:
    env: str
    parse: Callable[[str], Any]
    expected: str
    #: the value may be sensitive: never echo it in errors
    secret: bool = False


# field name -> how it is read from the environment
_VARS: dict[str, _Var] = {
    "tls_profile": _Var("TLS_PROFILE", _parse_str, "one of modern, intermediate, legacy"),
    "tls_min_version": _Var("TLS_MIN_VERSION", _parse_str, "one of 1.0, 1.1, 1.2, 1.3"),
    "tls_max_version": _Var("TLS_MAX_VERSION", _parse_str, "one of 1.0, 1.1, 1.2, 1.3"),
    "ciphers": _Var("CIPHERS", _parse_str, "an OpenSSL cipher string"),
    "tls13_ciphersuites": _Var(
        "TLS13_CIPHERSUITES", _parse_str, "colon-separated TLS 1.3 suite names (TLS_...)"
    ),
    "max_record_size": _Var("MAX_RECORD_SIZE", _parse_int, "an integer from 512 to 16384"),
    "ca_bundle": _Var("CA_BUNDLE", _parse_str, "an existing CA file or directory", secret=True),
    "client_cert": _Var("CLIENT_CERT", _parse_str, "an existing certificate file", secret=True),
    "client_key": _Var("CLIENT_KEY", _parse_str, "an existing key file", secret=True),
    "connect_timeout": _Var("CONNECT_TIMEOUT", _parse_float, "seconds, a number > 0"),
    "read_timeout": _Var("READ_TIMEOUT", _parse_float, "seconds, a number > 0"),
    "deadline": _Var("DEADLINE", _parse_float, "seconds, a number > 0"),
    "max_attempts": _Var("MAX_ATTEMPTS", _parse_int, "an integer from 1 to 10"),
    "backoff_initial": _Var("BACKOFF_INITIAL", _parse_float, "seconds, a number >= 0"),
    "backoff_max": _Var("BACKOFF_MAX", _parse_float, "seconds, a number >= BACKOFF_INITIAL"),
    "idempotent_operations": _Var(
        "IDEMPOTENT_OPERATIONS", _parse_list, "comma-separated glob patterns"
    ),
    "retry_budget": _Var("RETRY_BUDGET", _parse_float, "a ratio from 0 to 1"),
    "diagnostics_file": _Var("DIAGNOSTICS_FILE", _parse_str, "a writable file path", secret=True),
    "sensitive_elements": _Var(
        "SENSITIVE_ELEMENTS", _parse_list, "comma-separated XML local names", secret=True
    ),
    "log_payloads": _Var("LOG_PAYLOADS", _parse_bool, "true or false"),
}


def env_name(field_name: str) -> str:
    """The variable behind a Config field: ``max_attempts`` is ``SOAPGUARD_MAX_ATTEMPTS``."""
    return ENV_PREFIX + _VARS[field_name].env


@dataclass(frozen=True)
class Config:
    """Resolved soapguard settings.  Immutable and hashable (one SSL context per Config)."""

    tls_profile: Profile = "intermediate"
    tls_min_version: str | None = None
    tls_max_version: str | None = None
    ciphers: str | None = None
    tls13_ciphersuites: str | None = None
    max_record_size: int | None = None
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    deadline: float = 120.0
    max_attempts: int = 3
    backoff_initial: float = 0.05
    backoff_max: float = 2.0
    idempotent_operations: tuple[str, ...] = ()
    retry_budget: float = 0.2
    diagnostics_file: str | None = None
    sensitive_elements: tuple[str, ...] = ()
    log_payloads: bool = False
    # -- code-only settings (no environment variable) --------------------------
    #: called with every diagnostic event dict; exceptions it raises are logged, not raised
    on_event: EventHook | None = field(default=None, compare=False)
    #: retries always allowed per endpoint per second, on top of ``retry_budget``
    retry_budget_floor: float = 10.0
    #: trace TLS record headers (sizes per direction, alerts) where the interpreter allows
    trace_records: bool = True
    #: honour HTTPS_PROXY/NO_PROXY (resolved once per transport); ~/.netrc is never read
    trust_env: bool = True
    #: where each field's value came from: "argument", "env" or "default"
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        problems = _validate(self)
        if problems:
            raise ConfigError(_named(problems, self.sources))
        if not self.sources:
            defaults = Config.__dataclass_fields__
            computed = {
                f.name: (
                    "default" if getattr(self, f.name) == defaults[f.name].default else "argument"
                )
                for f in fields(self)
                if f.name in _VARS
            }
            object.__setattr__(self, "sources", computed)
        for name in ("idempotent_operations", "sensitive_elements"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build a Config from ``SOAPGUARD_*`` variables, with ``overrides`` winning."""
        env = os.environ if environ is None else environ
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown Config field(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        problems: list[tuple[str, str]] = []
        for name, var in _VARS.items():
            if name in overrides:
                values[name] = overrides[name]
                sources[name] = "argument"
                continue
            raw = env.get(ENV_PREFIX + var.env, "")
            if raw.strip() == "":
                sources[name] = "default"
                continue
            sources[name] = "env"
            try:
                values[name] = var.parse(raw)
            except ValueError:
                problems.append((name, _describe(var, raw)))
        if problems:
            # report parse errors together with range errors of the rest
            problems.extend(_validate_partial(values, skip={n for n, _ in problems}))
            raise ConfigError(_named(problems, sources))
        for name in overrides.keys() - _VARS.keys():
            values[name] = overrides[name]
        return cls(**values, sources=sources)

    def is_idempotent(self, operation: str) -> bool:
        """Whether ``operation`` matches one of ``idempotent_operations`` (glob, case-sensitive)."""
        return any(fnmatch.fnmatchcase(operation, pat) for pat in self.idempotent_operations)


def _describe(var: _Var, raw: str) -> str:
    if var.secret:
        return f"expected {var.expected}"
    shown = raw if len(raw) <= 40 else raw[:37] + "..."
    return f"expected {var.expected}, got {shown!r}"


def _named(problems: list[tuple[str, str]], sources: Mapping[str, str]) -> list[tuple[str, str]]:
    """Label each problem by its env variable, plus the field name where code set it."""
    out = []
    for name, msg in problems:
        if name not in _VARS or sources.get(name) == "env":
            out.append((env_name(name) if name in _VARS else name, msg))
        else:
            out.append((f"{name} ({env_name(name)})", msg))
    return out


def _validate_partial(values: Mapping[str, Any], skip: set[str]) -> list[tuple[str, str]]:
    merged = {f.name: f.default for f in fields(Config) if f.name in _VARS}
    merged.update({k: v for k, v in values.items() if k not in skip})
    return [(n, m) for n, m in _check(merged) if n not in skip]


def _validate(cfg: Config) -> list[tuple[str, str]]:
    return _check({name: getattr(cfg, name) for name in _VARS})


def _check(v: Mapping[str, Any]) -> list[tuple[str, str]]:
    from .tls.context import (
        validate_cipher_string,
        validate_tls13_ciphersuites,
    )  # tls imports config

    bad: list[tuple[str, str]] = []

    def want(name: str, ok: bool, extra: str = "") -> None:
        if not ok:
            var = _VARS[name]
            shown = "" if var.secret else f", got {v[name]!r}"
            bad.append((name, f"expected {var.expected}{extra}{shown}"))

    def number(name: str, low: float, high: float | None = None, strict: bool = False) -> bool:
        x = v[name]
        if isinstance(x, bool) or not isinstance(x, int | float) or x != x:
            return False
        return (x > low if strict else x >= low) and (high is None or x <= high)

    want("tls_profile", v["tls_profile"] in PROFILES)
    for name in ("tls_min_version", "tls_max_version"):
        want(name, v[name] is None or v[name] in TLS_VERSIONS)
    lo, hi = v["tls_min_version"], v["tls_max_version"]
    if v["tls_profile"] != "legacy":
        for name in ("tls_min_version", "tls_max_version"):
            if v[name] in ("1.0", "1.1"):
                bad.append((name, "versions below 1.2 need SOAPGUARD_TLS_PROFILE=legacy"))
    if v["tls_profile"] == "modern" and (lo or hi) and "1.2" in (lo, hi):
        bad.append(("tls_profile", "profile modern is TLS 1.3 only"))
    if (
        lo in TLS_VERSIONS
        and hi in TLS_VERSIONS
        and TLS_VERSIONS.index(lo) > TLS_VERSIONS.index(hi)
    ):
        bad.append(("tls_max_version", "must not be below SOAPGUARD_TLS_MIN_VERSION"))
    if v["ciphers"] is not None:
        want("ciphers", isinstance(v["ciphers"], str) and validate_cipher_string(v["ciphers"]))
    suites = v["tls13_ciphersuites"]
    if suites is not None:
        want(
            "tls13_ciphersuites",
            isinstance(suites, str)
            and all(re.fullmatch(r"TLS_[A-Z0-9_]+", name) for name in suites.split(":"))
            and validate_tls13_ciphersuites(suites),
        )
    mrs = v["max_record_size"]
    want("max_record_size", mrs is None or (type(mrs) is int and 512 <= mrs <= 16384))
    for name in ("ca_bundle", "client_cert", "client_key"):
        path = v[name]
        want(name, path is None or (isinstance(path, str) and os.path.exists(path)))
    if v["client_key"] is not None and v["client_cert"] is None:
        bad.append(("client_key", "needs SOAPGUARD_CLIENT_CERT as well"))
    for name in ("connect_timeout", "read_timeout", "deadline"):
        want(name, number(name, 0, strict=True))
    want("max_attempts", type(v["max_attempts"]) is int and 1 <= v["max_attempts"] <= 10)
    want("backoff_initial", number("backoff_initial", 0))
    want("backoff_max", number("backoff_max", 0))
    if number("backoff_initial", 0) and number("backoff_max", 0):
        want("backoff_max", v["backoff_max"] >= v["backoff_initial"])
    want("retry_budget", number("retry_budget", 0, 1))
    for name in ("idempotent_operations", "sensitive_elements"):
        want(
            name,
            isinstance(v[name], tuple | list) and all(isinstance(p, str) and p for p in v[name]),
        )
    want("log_payloads", isinstance(v["log_payloads"], bool))
    return bad
