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

This module runs the steps in order.  Measurements are in :mod:`.tls`, :mod:`.cert`,
:mod:`.calls` and :mod:`.legacy`, the rows and sections they become in :mod:`.steps`,
conclusions in :mod:`.advice`, the human output in :mod:`.render`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from ...config import Config
from ...diagnostics.redact import redact_url
from .. import config as _cli_config
from .._exit import OK as EXIT_OK
from .._exit import PROBLEM as EXIT_PROBLEM
from .._exit import USAGE as EXIT_USAGE
from .._origin import environment
from . import advice, calls, idle, legacy, steps
from . import identity as probe_identity
from . import tls as probe_tls
from .render import render
from .steps import step_timeout as _step

_TIMEOUT_HELP = "seconds per step: connect, handshake, GET, call (default 5)"
_REPEAT_HELP = f"calls per candidate, 1 to {calls.MAX_REPEAT} (default 20)"
#: the options that set a Config field, winning over its SOAPGUARD_* variable
_OPTIONS = {
    "ca_bundle": "--ca-bundle",
    "client_cert": "--client-cert",
    "client_key": "--client-key",
}
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
            "variables; the options below override them.  Exit 0 if the current settings "
            "work and nothing is wrong, 1 if a problem was found."
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
    overrides = {name: getattr(args, name) for name in _OPTIONS if getattr(args, name) is not None}
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
        "settings": steps.settings(config, args.call),
        "environment": environment(config, os.environ, _OPTIONS),
        "handshakes": [],
        "incomplete": [],
        "idle": None,
    }
    state = steps.Verification()
    working: Config | None = None
    old_peer = legacy.Checks(
        config, lambda v: steps.handshake(target, v, _step(args.timeout, deadline), state)
    )
    for kind, name, variant in steps.variants(config):
        if time.monotonic() >= deadline:
            report["incomplete"].append("the time budget ran out during the handshakes")
            break
        progress.update(f"handshake: {kind} {name}")
        row = steps.handshake(target, variant, _step(args.timeout, deadline), state)
        if kind != "current":  # a refusal one switch decides: try with it, say so in the row
            row, variant = old_peer.widen(row, variant)
        report["handshakes"].append({"kind": kind, "name": name, **row})
        if row["ok"] and working is None and isinstance(variant, Config):
            working = variant
    progress.done()
    report["certificate"] = steps.certificate(target, state)
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
    report["timings"] = steps.timings(report)
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
        # why no call was made with the current settings, if the WSDL did not load
        "wsdl_error": cands[0].setup_error,
        "candidates": [c.as_dict() for c in cands],
    }
