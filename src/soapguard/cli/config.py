"""``soapguard config``: the effective settings, where each came from, and config errors.

It builds the TLS context the client would build, from the same CA order
(:mod:`soapguard.tls.trust`), so a CA bundle or client key that is not what it
should be is reported here, naming its variable, exactly as building a client
would report it.

Also the one place the other subcommands load their :class:`~soapguard.Config`
from the environment (:func:`load`), so a bad ``SOAPGUARD_*`` variable is
reported the same way everywhere: every bad variable with the expected form,
exit code 2, no secret echoed.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
from collections.abc import Mapping
from typing import Any

from ..config import _VARS, ENV_PREFIX, Config, env_name, ignored_env
from ..errors import ConfigError
from ..tls.profiles import MFL_SIZES
from ._exit import OK as EXIT_OK
from ._exit import PROBLEM as EXIT_PROBLEM
from ._exit import USAGE as EXIT_USAGE
from ._origin import shown_value, value_text

#: what an unset field means, for people reading the table
_UNSET = {
    "tls_min_version": "profile's",
    "tls_max_version": "profile's",
    "ciphers": "profile's",
    "tls13_ciphersuites": "profile's",
    "max_record_size": "no cap (16384)",
    "ca_bundle": "see CA certificates below",
    "client_cert": "none",
    "client_key": "none",
    "client_key_password": "none",
    "pinned_keys": "none",
    "pool_max_age": "no limit",
    "failover_addresses": "none",
    "idempotency_header": "none",
    "diagnostics_file": "none",
    "idempotent_operations": "none",
    "sensitive_elements": "none",
}
_KNOWN = frozenset(env_name(name) for name in _VARS)


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "config",
        parents=[common],
        help="show the effective settings and where each came from",
        description=(
            "Show every setting that has a SOAPGUARD_* variable, its effective value and "
            "its source (env or default), and which CA certificates the client trusts.  "
            "Values of variables that may hold secrets are shown as *** when set.  Exits 2 "
            "listing every bad variable, 1 if an unknown SOAPGUARD_* variable (a typo?) is "
            "set or the TLS context cannot be built (e.g. a CA bundle or client key that is "
            "not what it should be)."
        ),
    )
    parser.set_defaults(run=run)


def load(json_mode: bool, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """``Config.from_env`` for a subcommand; on ConfigError print the problems and exit 2."""
    try:
        return Config.from_env(environ, **overrides)
    except ConfigError as exc:
        report_problems(exc, json_mode)
        raise SystemExit(EXIT_USAGE) from None


def report_problems(exc: ConfigError, json_mode: bool) -> None:
    """Print every problem of ``exc`` (its messages never contain secret values)."""
    problems = exc.problems or [("configuration", str(exc))]
    if json_mode:
        doc = {
            "ok": False,
            "problems": [{"variable": name, "problem": msg} for name, msg in problems],
        }
        print(json.dumps(doc, indent=2))
        return
    print("soapguard: invalid configuration:", file=sys.stderr)
    for name, msg in problems:
        print(f"  {name}: {msg}", file=sys.stderr)


def settings(config: Config) -> list[dict[str, Any]]:
    """One row per field with a variable: field, variable, value (secrets masked), source."""
    rows = []
    for name, var in _VARS.items():
        shown = shown_value(name, getattr(config, name))
        rows.append(
            {
                "field": name,
                "variable": env_name(name),
                "value": shown,
                "source": config.sources.get(name, "default"),
                "secret": var.secret,
                "set": shown is not None,
            }
        )
    return rows


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``SOAPGUARD_*`` names that soapguard does not read (names only, never values)."""
    return sorted(n for n in environ if n.startswith(ENV_PREFIX) and n not in _KNOWN)


def _runtime(config: Config, environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Facts about this interpreter and the TLS context the client would build, and problems."""
    from ..tls import context as tls
    from ..tls import trace as _trace
    from ..tls.trust import SessionTrust, resolve_trust

    trust = resolve_trust(config, None, environ)
    shown_path = "***" if trust.path_is_secret and trust.path else trust.path
    facts: dict[str, Any] = {
        "openssl": ssl.OPENSSL_VERSION,
        "record_tracing": _trace.available(),
        "trust": {"source": trust.source, "path": shown_path},
        "record_caps": None,
        "tls_security_level": None,
    }
    try:
        context = SessionTrust(config, None, environ).default_context
        caps = tls.caps_state(context)
    except ConfigError as exc:
        found = exc.problems or [("configuration", str(exc))]
        return facts, [f"cannot build the TLS context: {name}: {msg}" for name, msg in found]
    except (ssl.SSLError, OSError) as exc:  # not expected: material errors are ConfigErrors
        return facts, [f"cannot build the TLS context: {type(exc).__name__}: {_safe(exc)}"]
    facts["record_caps"] = caps.applied
    facts["tls_security_level"] = context.security_level  # as built: a stricter default stays
    facts["record_caps_detail"] = caps.detail or None
    if caps.applied is None:  # not needed by this configuration: say whether it would work
        works, why = tls.bridge_available()
        facts["record_caps_detail"] = "not requested; " + (
            "available on this interpreter" if works else f"NOT available here ({why})"
        )
    return facts, []


def notes(config: Config, environ: Mapping[str, str]) -> list[str]:
    """Things that are valid but may not do what the operator expects (not problems)."""
    out = []
    size = config.max_record_size
    if size is not None and size not in MFL_SIZES:
        out.append(
            f"SOAPGUARD_MAX_RECORD_SIZE={size} caps only the records soapguard sends; the "
            "server is asked to cap its records too only for 512, 1024, 2048 or 4096"
        )
    out.extend(_legacy_notes(config))
    ignored = ignored_env(config, environ)
    if ignored:
        out.append(f"set but ignored because code built the Config: {', '.join(ignored)}")
    return out


def _legacy_notes(config: Config) -> list[str]:
    """What the switches for old peers trade away, whenever one is on."""
    from ..diagnostics.hints import LEVEL_1_TRADE_OFF, RENEGOTIATION_TRADE_OFF

    out = []
    if config.tls_legacy_renegotiation:
        out.append(f"SOAPGUARD_TLS_LEGACY_RENEGOTIATION=true: {RENEGOTIATION_TRADE_OFF}")
    if config.tls_security_level == 1:
        out.append(f"SOAPGUARD_TLS_SECURITY_LEVEL=1 accepts {LEVEL_1_TRADE_OFF}")
    elif config.tls_security_level == 0:
        out.append(
            "SOAPGUARD_TLS_SECURITY_LEVEL=0 (needed by OpenSSL 3 for TLS 1.0/1.1) applies to "
            "every connection of this client, TLS 1.2 ones included: it accepts DH groups and "
            "keys of any size OpenSSL still supports"
        )
    return out


def _safe(exc: BaseException) -> str:
    from ..diagnostics.redact import redact_text

    return redact_text(str(exc))


def run(args: argparse.Namespace) -> int:
    environ = os.environ
    config = load(args.json, environ)
    rows = settings(config)
    unknown = unknown_variables(environ)
    runtime, tls_problems = _runtime(config, environ)
    problems = [f"unknown variable {name} (ignored; a typo?)" for name in unknown]
    problems += tls_problems
    remarks = notes(config, environ)
    code = EXIT_PROBLEM if problems else EXIT_OK
    if args.json:
        doc = {
            "ok": not problems,
            "settings": rows,
            "runtime": runtime,
            "ignored_env": ignored_env(config, environ),
            "notes": remarks,
            "problems": problems,
        }
        print(json.dumps(doc, indent=2, default=str))
        return code
    width = max(len(row["variable"]) for row in rows)
    print(f"{'variable':<{width}}  {'source':<7}  value")
    for row in rows:
        print(f"{row['variable']:<{width}}  {row['source']:<7}  {_text(row)}")
    caps = runtime["record_caps"]
    caps_text = {True: "applied", False: "NOT available", None: "-"}[caps]
    if runtime.get("record_caps_detail"):
        detail = runtime["record_caps_detail"]
        caps_text = detail if caps is None else f"{caps_text} ({detail})"
    trust = runtime["trust"]
    where = trust["source"] + (f" ({trust['path']})" if trust["path"] else "")
    print(
        f"\nCA certificates: {where}\n"
        f"{runtime['openssl']}; record caps and TLS 1.3 suites: {caps_text}; "
        f"record tracing: {'on' if runtime['record_tracing'] else 'unavailable'}; "
        f"security level in effect: {runtime['tls_security_level']}"
    )
    for text in remarks:
        print(f"note: {text}")
    for text in problems:
        print(f"problem: {text}", file=sys.stderr)
    return code


def _text(row: Mapping[str, Any]) -> str:
    if row["value"] is None:
        meaning = _UNSET.get(row["field"])
        return f"(unset: {meaning})" if meaning else "(unset)"
    return value_text(row["value"])
