"""``soapguard config``: the effective settings, where each came from, and config errors.

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

from ..config import _VARS, ENV_PREFIX, Config, env_name
from ..errors import ConfigError

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2

#: what an unset field means, for people reading the table
_UNSET = {
    "tls_min_version": "profile's",
    "tls_max_version": "profile's",
    "ciphers": "profile's",
    "tls13_ciphersuites": "profile's",
    "max_record_size": "no cap (16384)",
    "ca_bundle": "system store",
    "client_cert": "none",
    "client_key": "none",
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
            "its source (env or default).  Values of variables that may hold secrets are "
            "shown as *** when set.  Exits 2 listing every bad variable, 1 if an unknown "
            "SOAPGUARD_* variable (a typo?) is set or the TLS context cannot be built."
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
        value = getattr(config, name)
        unset = value is None or value == ()
        if unset:
            shown: Any = None
        elif var.secret:
            shown = "***"
        elif isinstance(value, tuple):
            shown = list(value)
        else:
            shown = value
        rows.append(
            {
                "field": name,
                "variable": env_name(name),
                "value": shown,
                "source": config.sources.get(name, "default"),
                "secret": var.secret,
                "set": not unset,
            }
        )
    return rows


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``SOAPGUARD_*`` names that soapguard does not read (names only, never values)."""
    return sorted(n for n in environ if n.startswith(ENV_PREFIX) and n not in _KNOWN)


def _runtime(config: Config) -> tuple[dict[str, Any], str | None]:
    from ..tls import context as tls
    from ..tls import trace as _trace

    facts: dict[str, Any] = {"openssl": ssl.OPENSSL_VERSION, "record_tracing": _trace.available()}
    try:
        caps = tls.caps_state(tls.context_for(config))
    except (ssl.SSLError, OSError, ConfigError) as exc:
        facts["record_caps"] = None
        return facts, f"cannot build the TLS context: {type(exc).__name__}: {_safe(exc)}"
    facts["record_caps"] = caps.applied
    facts["record_caps_detail"] = caps.detail or None
    return facts, None


def _safe(exc: BaseException) -> str:
    from ..diagnostics.redact import redact_text

    return redact_text(str(exc))


def run(args: argparse.Namespace) -> int:
    environ = os.environ
    config = load(args.json, environ)
    rows = settings(config)
    unknown = unknown_variables(environ)
    runtime, problem = _runtime(config)
    problems = [f"unknown variable {name} (ignored; a typo?)" for name in unknown]
    if problem:
        problems.append(problem)
    code = EXIT_PROBLEM if problems else EXIT_OK
    if args.json:
        doc = {"ok": not problems, "settings": rows, "runtime": runtime, "problems": problems}
        print(json.dumps(doc, indent=2, default=str))
        return code
    width = max(len(row["variable"]) for row in rows)
    print(f"{'variable':<{width}}  {'source':<7}  value")
    for row in rows:
        print(f"{row['variable']:<{width}}  {row['source']:<7}  {_text(row, environ)}")
    caps = runtime["record_caps"]
    caps_text = {True: "available", False: "NOT available", None: "unknown"}[caps]
    if runtime.get("record_caps_detail"):
        caps_text += f" ({runtime['record_caps_detail']})"
    print(
        f"\n{runtime['openssl']}; record caps and TLS 1.3 suites: {caps_text}; "
        f"record tracing: {'on' if runtime['record_tracing'] else 'unavailable'}"
    )
    for text in problems:
        print(f"problem: {text}", file=sys.stderr)
    return code


def _text(row: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    value = row["value"]
    if value is None:
        meaning = _UNSET.get(row["field"])
        if row["field"] == "ca_bundle":  # what the client falls back to, as Transport does
            meaning = next(
                (n for n in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if environ.get(n)), meaning
            )
        return f"(unset: {meaning})" if meaning else "(unset)"
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
