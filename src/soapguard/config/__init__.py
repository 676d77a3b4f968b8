"""Configuration: ``SOAPGUARD_*`` environment → one frozen :class:`Config`.

Precedence is *explicit argument > environment > default*:

* ``Config(...)`` is a plain value: every field you do not pass has its
  documented default and the environment is **not** consulted.  This keeps
  code (and tests) deterministic.
* ``Config.from_env(environ=None, **overrides)`` layers the overrides on top
  of the ``SOAPGUARD_*`` variables on top of the defaults.  This is what
  ``soapguard.Client(wsdl)`` uses when no ``config`` is given.

Because a plain ``Config(...)`` ignores the environment, an operator's
variable can be silently dropped by code; every Config records where each
value came from (``sources``) and :func:`ignored_env` names the variables it
did not take, so that can be shown instead of being discovered in production.

Every variable is parsed and validated up front; a bad value raises
:class:`ConfigError` (a ``ValueError``) naming *every* bad variable and the
expected form.  Values of variables that may hold secrets are never echoed,
other values only truncated.  The variables themselves are listed in
:mod:`soapguard.config._vars`, the rules in :mod:`soapguard.config._rules`.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ..errors import ConfigError
from ._rules import check
from ._vars import (
    ENV_PREFIX,
    PROFILES,
    TLS_VERSIONS,
    VARS,
    Var,
    env_name,
    got,
    normalize_pin,
)

__all__ = [
    "ENV_PREFIX",
    "PROFILES",
    "TLS_VERSIONS",
    "Config",
    "env_name",
    "ignored_env",
    "label",
]

Profile = Literal["modern", "intermediate", "legacy"]
EventHook = Callable[[dict[str, Any]], None]
#: kept for the modules that list every variable (``soapguard config``)
_VARS: dict[str, Var] = VARS
_TUPLES = ("idempotent_operations", "sensitive_elements", "pinned_keys", "failover_addresses")


@dataclass(frozen=True)
class Config:
    """Resolved soapguard settings.  Immutable and hashable (one SSL context per Config)."""

    tls_profile: Profile = "intermediate"
    tls_min_version: str | None = None
    tls_max_version: str | None = None
    #: OpenSSL security level: 1 (1024-bit DH groups and RSA keys) only with profile
    #: legacy; 0 only with, and required by, a minimum version below 1.2
    tls_security_level: int = 2
    #: reach peers without RFC 5746 secure renegotiation.  soapguard still never
    #: renegotiates, but the connection is not immune to CVE-2009-3555: an active
    #: attacker on the path can splice the first handshake into its own session and put
    #: data in front of the first request if the server allows client-initiated
    #: renegotiation.  For trusted network paths only.
    tls_legacy_renegotiation: bool = False
    ciphers: str | None = None
    tls13_ciphersuites: str | None = None
    max_record_size: int | None = None
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    #: a secret: never in ``repr``; compared, so two keys never share a cached TLS context
    client_key_password: str | None = field(default=None, repr=False)
    pinned_keys: tuple[str, ...] = ()
    cert_expiry_warning: int = 30
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    deadline: float = 120.0
    max_attempts: int = 3
    backoff_initial: float = 0.05
    backoff_max: float = 2.0
    idempotent_operations: tuple[str, ...] = ()
    idempotency_header: str | None = None
    retry_budget: float = 0.2
    pool_idle_timeout: float = 30.0
    pool_max_age: float | None = None
    pool_maxsize: int = 10
    failover_addresses: tuple[str, ...] = ()
    circuit_breaker: bool = True
    breaker_failure_ratio: float = 0.5
    breaker_min_calls: int = 10
    breaker_window: float = 30.0
    breaker_open_seconds: float = 30.0
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
    #: honour HTTPS_PROXY/NO_PROXY and the CA variables of other tools (resolved once per
    #: transport); ~/.netrc is never read
    trust_env: bool = True
    #: where each field's value came from: "argument", "env" or "default"
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _normalize(self)
        problems = check({name: getattr(self, name) for name in VARS})
        if problems:
            raise ConfigError(_named(problems, self.sources))
        if not self.sources:
            defaults = Config.__dataclass_fields__
            computed = {
                f.name: (
                    "default" if getattr(self, f.name) == defaults[f.name].default else "argument"
                )
                for f in fields(self)
                if f.name in VARS
            }
            object.__setattr__(self, "sources", computed)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build a Config from ``SOAPGUARD_*`` variables, with ``overrides`` winning.

        Without arguments, the process environment is read in one pass, and while its
        ``SOAPGUARD_*`` variables stay the same the same (immutable) Config is returned:
        every ``soapguard.Client()`` would otherwise parse and check them again.
        """
        if environ is None and not overrides and cls is Config:
            return _from_process_env()
        env = os.environ if environ is None else environ
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown Config field(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        problems: list[tuple[str, str]] = []
        for name, var in VARS.items():
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
                problems.append((name, f"expected {var.expected}{got(name, raw)}"))
        if problems:
            # report parse errors together with the rule errors of the rest
            problems.extend(_check_partial(values, skip={n for n, _ in problems}))
            raise ConfigError(_named(problems, sources))
        for name in overrides.keys() - VARS.keys():
            values[name] = overrides[name]
        return cls(**values, sources=sources)

    def is_idempotent(self, operation: str) -> bool:
        """Whether ``operation`` matches one of ``idempotent_operations`` (glob, case-sensitive)."""
        patterns = self.idempotent_operations
        return _matches(patterns if isinstance(patterns, tuple) else tuple(patterns), operation)


@functools.lru_cache(maxsize=1024)
def _matches(patterns: tuple[str, ...], operation: str) -> bool:
    """Whether ``operation`` matches a glob of ``patterns`` (asked on every call: remembered)."""
    return any(fnmatch.fnmatchcase(operation, pat) for pat in patterns)


#: the last Config built from the process environment, and the variables it was built from
_last: tuple[dict[str, str], Config] | None = None


def _from_process_env() -> Config:
    global _last
    env = os.environ  # keys only: a value is decoded only for our variables
    ours = {k: env[k] for k in env if k.startswith(ENV_PREFIX)}
    last = _last
    if last is not None and last[0] == ours:
        return last[1]
    config = Config.from_env(ours)
    _last = (ours, config)
    return config


def ignored_env(config: Config, environ: Mapping[str, str] | None = None) -> list[str]:
    """The ``SOAPGUARD_*`` variables set in ``environ`` that ``config`` does not reflect.

    A plain ``Config(...)`` never reads the environment, and an argument given
    to ``Config.from_env`` wins over its variable: in both cases code decided,
    and an operator's setting has no effect.  Names only, never values.
    """
    env = os.environ if environ is None else environ
    return sorted(
        env_name(name)
        for name in VARS
        if env.get(env_name(name), "").strip() and config.sources.get(name) != "env"
    )


def label(config: Config, name: str) -> str:
    """How a problem with field ``name`` is attributed: its variable, or the field set in code."""
    return _label(name, config.sources)


def _label(name: str, sources: Mapping[str, str]) -> str:
    """A value code set is named by its field too; one from the environment (or a default
    an operator can change) by its variable only."""
    if name not in VARS:
        return name
    if sources.get(name, "argument") == "argument":
        return f"{name} ({env_name(name)})"
    return env_name(name)


def _normalize(cfg: Config) -> None:
    """Keywords in lower case, sequences as tuples (so the Config stays hashable)."""

    def put(name: str, value: Any) -> None:
        object.__setattr__(cfg, name, value)

    if isinstance(cfg.tls_profile, str):
        put("tls_profile", cfg.tls_profile.strip().lower())
    for name in _TUPLES:
        value = getattr(cfg, name)
        if isinstance(value, list):
            put(name, tuple(value))
    if isinstance(cfg.pinned_keys, tuple):
        put("pinned_keys", tuple(normalize_pin(p) if isinstance(p, str) else p
                                 for p in cfg.pinned_keys))  # fmt: skip


def _named(problems: list[tuple[str, str]], sources: Mapping[str, str]) -> list[tuple[str, str]]:
    """Label each problem by its variable, plus the field name where code set it."""
    return [(_label(name, sources), msg) for name, msg in problems]


def _check_partial(values: Mapping[str, Any], skip: set[str]) -> list[tuple[str, str]]:
    merged = {f.name: f.default for f in fields(Config) if f.name in VARS}
    merged.update({k: v for k, v in values.items() if k not in skip})
    return [(n, m) for n, m in check(merged) if n not in skip]
