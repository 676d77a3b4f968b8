"""``soapguard probe URL``: what a TLS endpoint accepts, and which settings to use with it.

Steps, each bounded by ``--timeout`` and all by ``--budget``:

1. a handshake with the current settings (also the certificate check; if the
   certificate is rejected, the chain is read again without verification,
   clearly labelled, and the other steps run unverified);
2. one handshake per TLS version (1.0-1.3, with the legacy profile's suites,
   the widest soapguard allows) and per profile (modern, intermediate, legacy);
3. one GET of the URL without and with ``max_fragment_length=512``: does the
   server honour the cap?
4. with ``--call``: repeated calls under the current settings and candidates;
5. identity: the chain's SPKI pins against ``SOAPGUARD_PINNED_KEYS``, certificates
   that expire soon, and the client certificate loaded as a client would.
6. with ``--idle-wait``: how long the server keeps an idle connection open
   (:mod:`.idle`, in a thread alongside steps 3 and 4).

Then old-peer checks (:mod:`.legacy`): a variant refused for lacking secure
renegotiation or for a small DH group is tried again with the one switch that fixes
it, and the recommended TLS lines are verified together by one real handshake.

Measurements are in :mod:`.tls`, :mod:`.cert`, :mod:`.calls` and :mod:`.legacy`,
conclusions in :mod:`.advice`, the human output in :mod:`.render`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ...config import Config
from ...diagnostics.redact import redact_url
from .. import config as _cli_config
from .._exit import OK as EXIT_OK
from .._exit import PROBLEM as EXIT_PROBLEM
from .._exit import USAGE as EXIT_USAGE
from . import advice, calls, idle, legacy
from . import cert as probe_cert
from . import identity as probe_identity
from . import tls as probe_tls
from .render import render

_TIMEOUT_HELP = "seconds per step: connect, handshake, GET, call (default 5)"
_REPEAT_HELP = f"calls per candidate, 1 to {calls.MAX_REPEAT} (default 20)"
_IDLE_HELP = (
    "also measure how long the server keeps an idle connection open, waiting up to S "
    "seconds within --budget (e.g. 190: DataPower closes after 180 s by default)"
)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or value != value:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def _repeat(text: str) -> int:
    value = int(text)
    if not 1 <= value <= calls.MAX_REPEAT:
        raise argparse.ArgumentTypeError(f"must be from 1 to {calls.MAX_REPEAT}, got {text}")
    return value


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "probe",
        parents=[common],
        help="test TLS versions, suites, record caps, certificate and calls against a URL",
        description=(
            "Probe an https endpoint (or its ?wsdl URL) with soapguard's own TLS code and "
            "classifier and recommend SOAPGUARD_* settings.  Settings come from SOAPGUARD_* "
            "variables; the options below override them.  Exit 0 if the default profile "
            "works and nothing is wrong, 1 if a problem was found."
        ),
    )
    add = parser.add_argument
    add("url", help="https://host[:port]/path, e.g. the service's ?wsdl URL")
    add("--timeout", type=_positive, default=5.0, metavar="S", help=_TIMEOUT_HELP)
    add("--budget", type=_positive, default=120.0, metavar="S", help="seconds for it all (120)")
    add("--ca-bundle", metavar="PATH", help="CA file or directory to trust")
    add("--client-cert", metavar="PATH", help="client certificate (mutual TLS)")
    add("--client-key", metavar="PATH", help="its private key")
    add("--call", metavar="OPERATION", help="also call this operation under candidate settings")
    add("--args", default="{}", metavar="JSON", help="its arguments as a JSON object")
    add("--repeat", type=_repeat, default=20, metavar="N", help=_REPEAT_HELP)
    add("--progress", action="store_true", help="progress on stderr even if not a terminal")
    add("--idle-wait", type=_positive, metavar="S", help=_IDLE_HELP)
    parser.set_defaults(run=run)


def _usage(message: str) -> int:
    print(f"soapguard probe: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    parts = urlsplit(args.url)
    try:
        port = parts.port or 443
    except ValueError:
        return _usage(f"invalid port in {redact_url(args.url)}")
    if parts.scheme.lower() != "https" or not parts.hostname:
        return _usage("the URL must be https://host[:port]/...")
    try:
        call_args = json.loads(args.args)
    except ValueError as exc:
        return _usage(f"--args is not valid JSON: {exc}")
    if not isinstance(call_args, dict):
        return _usage("--args must be a JSON object of argument names to values")
    overrides = {
        name: getattr(args, name)
        for name in ("ca_bundle", "client_cert", "client_key")
        if getattr(args, name) is not None
    }
    config = _cli_config.load(args.json, **overrides)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    trust, trust_label = probe_tls.trust_for(config, os.environ)
    target = probe_tls.Target(parts.hostname, port, path, trust, trust_label)
    deadline = time.monotonic() + args.budget
    progress = calls.Progress(sys.stderr, args.progress or sys.stderr.isatty())
    try:
        report = _probe(args, config, target, deadline, call_args, progress)
    except calls.UsageError as exc:
        progress.done()
        return _usage(str(exc))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        render(report)
    return EXIT_PROBLEM if report["problems"] else EXIT_OK


def _probe(
    args: argparse.Namespace,
    config: Config,
    target: probe_tls.Target,
    deadline: float,
    call_args: dict[str, Any],
    progress: calls.Progress,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "url": redact_url(args.url),
        "target": {"host": target.host, "port": target.port},
        "settings": _settings(config, args.call),
        "handshakes": [],
        "incomplete": [],
        "idle": None,
    }
    state = _Verification()
    variants: list[tuple[str, str, Config | str]] = [("current", "current", config)]
    variants += [
        ("version", v, _variant(config, tls_profile="legacy", tls_min_version=v, tls_max_version=v))
        for v in ("1.0", "1.1", "1.2", "1.3")
    ]
    variants += [
        ("profile", p, _variant(config, tls_profile=p, tls_min_version=None, tls_max_version=None))
        for p in ("modern", "intermediate", "legacy")
    ]
    working: Config | None = None
    old_peer = legacy.Checks(
        config, lambda v: _handshake(target, v, _step(args.timeout, deadline), state)
    )
    for kind, name, variant in variants:
        if time.monotonic() >= deadline:
            report["incomplete"].append("the time budget ran out during the handshakes")
            break
        progress.update(f"handshake: {kind} {name}")
        row = _handshake(target, variant, _step(args.timeout, deadline), state)
        if kind != "current":  # a refusal one switch decides: try with it, say so in the row
            row, variant = old_peer.widen(row, variant)
        report["handshakes"].append({"kind": kind, "name": name, **row})
        if row["ok"] and working is None and isinstance(variant, Config):
            working = variant
    progress.done()
    report["certificate"] = _certificate(target, state)
    report["identity"] = probe_identity.check(config, report["certificate"])
    report["record_size"] = None
    idle_probe = None
    if working is not None and args.idle_wait:
        until = min(deadline, time.monotonic() + args.idle_wait)
        idle_probe = idle.IdleProbe.start(
            target, working, timeout=_step(args.timeout, deadline), verify=state.verify, until=until
        )
    if working is not None and time.monotonic() < deadline:
        progress.update("record size: GET with and without max_fragment_length")
        timeout = _step(args.timeout, deadline)
        report["record_size"] = probe_tls.record_size(target, working, timeout, state.verify)
        progress.done()
    report["timings"] = _timings(report)
    report["calls"] = None
    if args.call:
        report["calls"] = _calls(args, config, report, deadline, call_args, progress)
    if idle_probe is not None:
        progress.update("idle connection: waiting for the server to close it")
        report["idle"] = idle_probe.result()
        progress.done()
    report["legacy_peer"] = old_peer.findings(report)
    report["notes"] = advice.notes(report) + probe_identity.notes(report["identity"])
    report["recommendations"] = advice.recommend(report, report["settings"])
    report["recommendation_check"] = old_peer.verify(report["recommendations"])
    report["problems"] = advice.problems(report) + probe_identity.problems(report["identity"])
    report["ok"] = not report["problems"]
    return report


def _step(timeout: float, deadline: float) -> float:
    """The timeout for the next step: ``--timeout``, but never past the budget."""
    return max(0.1, min(timeout, deadline - time.monotonic()))


@dataclass
class _Verification:
    """What the handshakes learnt about the certificate, and whether to keep verifying."""

    verify: bool = True
    error: dict[str, Any] | None = None
    verify_code: int | None = None
    chain: list[dict[str, Any]] | None = None
    chain_verified: bool = False


def _variant(config: Config, **changes: Any) -> Config | str:
    """``config`` with the profile's own suites and ``changes``; the error text if invalid.

    The security level follows the variant: 0 for TLS 1.0/1.1 (which need it), the
    configured 1 where the profile allows it, else 2.
    """
    level = 1 if config.tls_security_level == 1 and changes["tls_profile"] == "legacy" else 2
    if changes["tls_min_version"] in ("1.0", "1.1"):
        level = 0
    try:
        return dataclasses.replace(
            config, ciphers=None, tls13_ciphersuites=None, tls_security_level=level, **changes
        )
    except ValueError as exc:
        return str(exc)


def _settings(config: Config, operation: str | None) -> dict[str, Any]:
    names = (
        "tls_profile", "tls_min_version", "tls_max_version", "tls_security_level",
        "tls_legacy_renegotiation", "max_record_size", "pool_idle_timeout",
    )  # fmt: skip
    out: dict[str, Any] = {name: getattr(config, name) for name in names}
    out["ca_bundle"] = "set" if config.ca_bundle else None  # a path may be sensitive
    out["custom_ciphers"] = config.ciphers is not None
    out["idempotent_operations"] = list(config.idempotent_operations)
    out["operation_idempotent"] = config.is_idempotent(operation) if operation else None
    return out


def _handshake(
    target: probe_tls.Target, config: Config | str, timeout: float, state: _Verification
) -> dict[str, Any]:
    if isinstance(config, str):
        return {
            "ok": False,
            "verified": None,
            "error": {"error.type": "config", "error.message": config},
        }
    attempt = probe_tls.handshake(target, config, verify=state.verify, timeout=timeout)
    if not attempt.ok and (attempt.error or {}).get("error.type") == "tls.certificate":
        # keep the verdict, then look at the chain (and go on) without verification
        state.error, state.verify_code, state.verify = attempt.error, attempt.verify_code, False
        attempt = probe_tls.handshake(target, config, verify=False, timeout=timeout)
    if attempt.ok and state.chain is None:
        state.chain, state.chain_verified = attempt.chain, attempt.verified
    return {
        "ok": attempt.ok,
        "verified": attempt.verified,
        "tls_version": attempt.tls_version,
        "cipher": attempt.cipher,
        "error": attempt.error,
        "connect_ms": attempt.connect_ms,
        "handshake_ms": attempt.handshake_ms,
    }


def _certificate(target: probe_tls.Target, state: _Verification) -> dict[str, Any]:
    chain = state.chain or []
    verified = state.chain_verified and state.error is None
    hostname = (
        True if verified else probe_cert.hostname_check(target.host, state.verify_code, chain)
    )
    return {
        "verified": verified,
        "error": state.error,
        "verify_code": state.verify_code,
        "hostname_match": hostname,
        "chain_read_unverified": bool(chain) and not state.chain_verified,
        "chain": chain,
        "trust_store": target.trust_label,
    }


def _timings(report: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = next((row for row in report["handshakes"] if row["ok"]), {})
    fetched = (report.get("record_size") or {}).get("uncapped") or {}
    return {
        "connect_ms": first.get("connect_ms"),
        "handshake_ms": first.get("handshake_ms"),
        "first_byte_ms": fetched.get("first_byte_ms"),
    }


def _calls(
    args: argparse.Namespace,
    config: Config,
    report: dict[str, Any],
    deadline: float,
    call_args: dict[str, Any],
    progress: calls.Progress,
) -> dict[str, Any]:
    cands = calls.candidates(config, report["handshakes"], args.timeout)
    finished = calls.run(args.url, args.call, call_args, cands, args.repeat, deadline, progress)
    if not finished:
        report["incomplete"].append("the time budget ran out during the calls")
    return {
        "operation": args.call,
        "repeat": args.repeat,
        "idempotent": report["settings"]["operation_idempotent"],
        "candidates": [c.as_dict() for c in cands],
    }
