"""``soapguard probe URL``: what a TLS endpoint accepts, and which settings to use with it.

Steps, each bounded by ``--timeout`` and all by ``--budget``:

1. a handshake with the current settings (also the certificate check; if the
   certificate is rejected, the chain is read again without verification,
   clearly labelled, and the other steps run unverified);
2. one handshake per TLS version (1.0-1.3, with the legacy profile's suites,
   the widest soapguard allows) and per profile (modern, intermediate, legacy);
3. one GET of the URL without and with ``max_fragment_length=512``: does the
   server honour the cap?
4. with ``--call``: repeated calls under the current settings and candidates.

Measurements are in :mod:`._cli_probe_tls` and :mod:`._cli_probe_calls`,
conclusions in :mod:`._cli_probe_advice`.
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

from . import _cli_config
from . import _cli_probe_advice as advice
from . import _cli_probe_calls as calls
from . import _cli_probe_tls as probe_tls
from .config import Config
from .redact import redact_url

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2
MFL_CAP = 512


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
    parser.add_argument("url", help="https://host[:port]/path, e.g. the service's ?wsdl URL")
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=5.0,
        metavar="S",
        help="seconds per step: connect, handshake, GET, call (default 5)",
    )
    parser.add_argument(
        "--budget",
        type=_positive,
        default=120.0,
        metavar="S",
        help="seconds for the whole probe (default 120)",
    )
    parser.add_argument("--ca-bundle", metavar="PATH", help="CA file or directory to trust")
    parser.add_argument("--client-cert", metavar="PATH", help="client certificate (mutual TLS)")
    parser.add_argument("--client-key", metavar="PATH", help="its private key")
    parser.add_argument(
        "--call",
        metavar="OPERATION",
        help="also call this operation repeatedly under candidate settings",
    )
    parser.add_argument(
        "--args",
        default="{}",
        metavar="JSON",
        help="the operation's arguments as a JSON object (default {})",
    )
    parser.add_argument(
        "--repeat",
        type=_repeat,
        default=20,
        metavar="N",
        help=f"calls per candidate, 1 to {calls.MAX_REPEAT} (default 20)",
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show a progress line on stderr even when it is not a terminal",
    )
    parser.set_defaults(run=run)  # fmt: skip


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
    overrides = {name: getattr(args, name) for name in ("ca_bundle", "client_cert", "client_key")
                 if getattr(args, name) is not None}  # fmt: skip
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
        _print(report)
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
    }
    state = _Verification()
    variants: list[tuple[str, str, Config | str]] = [("current", "current", config)]
    variants += [
        ("version", v, _variant(config, tls_profile="legacy", tls_min_version=v, tls_max_version=v))
        for v in ("1.0", "1.1", "1.2", "1.3")
    ]
    variants += [("profile", p, _variant(config, tls_profile=p, tls_min_version=None,
                                         tls_max_version=None))
                 for p in ("modern", "intermediate", "legacy")]  # fmt: skip
    working: Config | None = None
    for kind, name, variant in variants:
        if time.monotonic() >= deadline:
            report["incomplete"].append("the time budget ran out during the handshakes")
            break
        progress.update(f"handshake: {kind} {name}")
        row = _handshake(target, variant, args.timeout, state)
        report["handshakes"].append({"kind": kind, "name": name, **row})
        if row["ok"] and working is None and isinstance(variant, Config):
            working = variant
    progress.done()
    report["certificate"] = _certificate(target, state)
    report["record_size"] = None
    if working is not None and time.monotonic() < deadline:
        progress.update("record size: GET with and without max_fragment_length")
        report["record_size"] = _record_size(target, working, args.timeout, state.verify)
        progress.done()
    report["timings"] = _timings(report)
    report["calls"] = None
    if args.call:
        report["calls"] = _calls(args, config, report, deadline, call_args, progress)
    report["problems"] = advice.problems(report)
    report["notes"] = advice.notes(report)
    report["recommendations"] = advice.recommend(report, report["settings"])
    report["ok"] = not report["problems"]
    return report


@dataclass
class _Verification:
    """What the handshakes learnt about the certificate, and whether to keep verifying."""

    verify: bool = True
    error: dict[str, Any] | None = None
    verify_code: int | None = None
    chain: list[dict[str, Any]] | None = None
    chain_verified: bool = False


def _variant(config: Config, **changes: Any) -> Config | str:
    """``config`` with the profile's own suites and ``changes``; the error text if invalid."""
    try:
        return dataclasses.replace(config, ciphers=None, tls13_ciphersuites=None, **changes)
    except ValueError as exc:
        return str(exc)


def _settings(config: Config, operation: str | None) -> dict[str, Any]:
    names = ("tls_profile", "tls_min_version", "tls_max_version", "max_record_size")
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
        return {"ok": False, "verified": None, "error": {"error.type": "config",
                                                         "error.message": config}}  # fmt: skip
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
    }  # fmt: skip


def _certificate(target: probe_tls.Target, state: _Verification) -> dict[str, Any]:
    chain = state.chain or []
    verified = state.chain_verified and state.error is None
    hostname = True if verified else probe_tls.hostname_check(target.host, state.verify_code, chain)
    return {
        "verified": verified,
        "error": state.error,
        "verify_code": state.verify_code,
        "hostname_match": hostname,
        "chain_read_unverified": bool(chain) and not state.chain_verified,
        "chain": chain,
        "trust_store": target.trust_label,
    }


def _record_size(
    target: probe_tls.Target, working: Config, timeout: float, verify: bool
) -> dict[str, Any]:
    uncapped = probe_tls.fetch(
        target, dataclasses.replace(working, max_record_size=None), timeout=timeout, verify=verify
    )
    capped = probe_tls.fetch(target, dataclasses.replace(working, max_record_size=MFL_CAP),
                             timeout=timeout, verify=verify)  # fmt: skip
    before, after = _fetch_dict(uncapped), _fetch_dict(capped)
    verdict, detail = advice.mfl_verdict(MFL_CAP, before, after)
    return {"cap": MFL_CAP, "verdict": verdict, "detail": detail, "uncapped": before,
            "capped": after, "verified": verify}  # fmt: skip


def _fetch_dict(attempt: probe_tls.Attempt) -> dict[str, Any]:
    keys = ("ok", "status", "bytes_in", "first_byte_ms", "largest_record_in", "records_in",
            "caps_applied", "negotiated_mfl", "tls_version", "error")  # fmt: skip
    return {key: getattr(attempt, key) for key in keys}


def _timings(report: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = next((row for row in report["handshakes"] if row["ok"]), {})
    fetched = (report.get("record_size") or {}).get("uncapped") or {}
    return {"connect_ms": first.get("connect_ms"), "handshake_ms": first.get("handshake_ms"),
            "first_byte_ms": fetched.get("first_byte_ms")}  # fmt: skip


def _calls(
    args: argparse.Namespace,
    config: Config,
    report: dict[str, Any],
    deadline: float,
    call_args: dict[str, Any],
    progress: calls.Progress,
) -> dict[str, Any]:
    rows = {(r["kind"], r["name"]): r for r in report["handshakes"]}
    current = rows.get(("current", "current"), {})
    cands = [calls.candidate("current", config, args.timeout)]
    for cap in (4096, 1024):
        if config.max_record_size != cap:
            cands.append(calls.candidate(f"record cap {cap}", config, args.timeout,
                                         max_record_size=cap))  # fmt: skip
    for profile in ("intermediate", "legacy"):
        row = rows.get(("profile", profile), {})
        differs = (row.get("tls_version"), row.get("cipher")) != (
            current.get("tls_version"), current.get("cipher"))  # fmt: skip
        if profile != config.tls_profile and row.get("ok") and differs:
            cands.append(calls.candidate(f"profile {profile}", config, args.timeout,
                                         tls_profile=profile))  # fmt: skip
    finished = calls.run(args.url, args.call, call_args, cands, args.repeat, deadline, progress)
    if not finished:
        report["incomplete"].append("the time budget ran out during the calls")
    return {"operation": args.call, "repeat": args.repeat,
            "idempotent": report["settings"]["operation_idempotent"],
            "candidates": [c.as_dict() for c in cands]}  # fmt: skip


# -- human output ---------------------------------------------------------------------


def _print(report: dict[str, Any]) -> None:
    target = report["target"]
    print(f"soapguard probe {report['url']}  ({target['host']} port {target['port']})\n")
    print("Handshakes:")
    for row in report["handshakes"]:
        label = "current settings" if row["kind"] == "current" else f"{row['kind']} {row['name']}"
        unverified = "" if row.get("verified") or not row["ok"] else "  [certificate NOT verified]"
        if row["ok"]:
            print(f"  {label:<22} ok      TLS {row['tls_version']} {row['cipher']}  "
                  f"({row['handshake_ms']} ms){unverified}")  # fmt: skip
        else:
            print(f"  {label:<22} failed  {_error(row['error'])}")
    _print_certificate(report["certificate"])
    record = report.get("record_size")
    if record:
        print(f"\nRecord size (max_fragment_length={record['cap']}): {record['verdict']}"
              f" - {record['detail']}")  # fmt: skip
        before = record["uncapped"]
        print(f"  without the cap: largest record {before['largest_record_in']} bytes, "
              f"{before['bytes_in']} bytes received")  # fmt: skip
    timings = report["timings"]
    print(f"\nTimings: connect {timings['connect_ms']} ms, handshake {timings['handshake_ms']} ms,"
          f" first byte {timings['first_byte_ms']} ms")  # fmt: skip
    if report.get("calls"):
        _print_calls(report["calls"])
    for text in report["notes"]:
        print(f"\nnote: {text}")
    for text in report["problems"]:
        print(f"\nPROBLEM: {text}")
    print("\nRecommended settings:" if report["recommendations"] else "\nNo changes recommended.")
    for rec in report["recommendations"]:
        print(f"  {rec['line']}\n      # {rec['reason']}")


def _error(error: dict[str, Any] | None) -> str:
    if not error:
        return "unknown error"
    reason = f" [{error['openssl.reason']}]" if error.get("openssl.reason") else ""
    origin = f" ({error['error.origin']})" if error.get("error.origin") else ""
    return f"{error.get('error.type')}{origin}{reason}"


def _print_certificate(cert: dict[str, Any]) -> None:
    status = "verified" if cert["verified"] else "NOT VALID" if cert["error"] else "not checked"
    print(f"\nCertificate: {status} (trusting {cert.get('trust_store')}); "
          f"hostname match: {cert['hostname_match']}")  # fmt: skip
    if cert["error"]:
        print(f"  {_error(cert['error'])}: {cert['error'].get('verify_message')}")
    if cert["chain_read_unverified"]:
        print("  (chain below read WITHOUT verification, for information only)")
    for number, item in enumerate(cert["chain"]):
        print(f"  [{number}] subject {item['subject']}\n      issuer  {item['issuer']}\n"
              f"      expires {item['not_after']} ({item['days_left']} days)\n"
              f"      sha256  {item['sha256']}")  # fmt: skip


def _print_calls(result: dict[str, Any]) -> None:
    print(f"\nCalls: {result['operation']} x{result['repeat']} per candidate, no retries")
    kinds = sorted({kind for c in result["candidates"] for kind in c["failures"]})
    header = f"  {'candidate':<22} {'calls':>5} {'ok':>5}" + "".join(f" {k:>20}" for k in kinds)
    print(header)
    for cand in result["candidates"]:
        line = f"  {cand['name']:<22} {cand['calls']:>5} {cand['ok']:>5}"
        line += "".join(f" {cand['failures'].get(k, 0):>20}" for k in kinds)
        if cand["setup_error"]:
            line += f"  (WSDL not loaded: {cand['setup_error']})"
        print(line)
