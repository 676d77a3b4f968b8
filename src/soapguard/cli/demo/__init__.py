"""``soapguard demo``: the main job, end to end, on an embedded service -- and a smoke test.

An embedded ledger SOAP service runs over TLS on 127.0.0.1 (with the PUBLIC demo
certificate) behind a :class:`~soapguard.testing.FaultProxy`, and a
:class:`soapguard.Client` calls it through the proxy while faults are injected:

1. an idempotent ``GetBalance`` whose response record is corrupted recovers on a
   fresh connection;
2. a non-idempotent ``Transfer`` hit by the same fault is *not* replayed (the
   server did execute it, so a replay would have booked it twice);
3. a ``Transfer`` whose connection is reset before any byte left is retried
   transparently and executed once.

With ``--mtls`` (``pem``, the default, or ``p12``) the service also requires a client
certificate, and the client presents the PUBLIC demo one: an encrypted PEM key or a
PKCS#12 file, both under the public password ``soapguard-demo`` (``p12`` needs the
``mtls`` extra).  A fourth check then says that the server saw it.  These runs use
TLS 1.2: the fault proxy judges records by their headers, and a TLS 1.3 client's
encrypted certificate would look like the start of its request.

The client reads the ``SOAPGUARD_*`` variables as ``soapguard.Client`` would, except
those that describe the operator's own service (:mod:`.settings`); the output says
which settings came from the environment and which variables were ignored.

Every expectation is checked; the command exits 1 if any behaviour is wrong, 2 on a
bad ``SOAPGUARD_*`` variable.  The scenes are in :mod:`.scenes`, the output in
:mod:`.output`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._exit import OK as EXIT_OK
from .._exit import PROBLEM as EXIT_PROBLEM
from .._exit import USAGE as EXIT_USAGE
from .output import document, event_line, print_result
from .scenes import DemoResult, Scene, run_scenes

__all__ = ["DemoResult", "Scene", "add_parser", "event_line", "run", "run_scenes"]


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "demo",
        parents=[common],
        help="show recovery and refused replays on an embedded service (exit 1 if wrong)",
        description=(
            "Run an embedded ledger SOAP service over TLS on 127.0.0.1 behind a fault "
            "proxy and call it with soapguard.Client while faults are injected.  Needs "
            "nothing but the package.  The client reads SOAPGUARD_* variables, except those "
            "naming your own service (CA, pins, client certificate, failover addresses, "
            "idempotent operations, diagnostics file).  Exits 1 if any behaviour is not as "
            "expected, 2 on a bad SOAPGUARD_* variable."
        ),
    )
    parser.add_argument(
        "--mtls",
        nargs="?",
        const="pem",
        choices=("pem", "p12"),
        help="the service requires a client certificate; the client presents the PUBLIC "
        "demo one as PEM with an encrypted key (default) or as a PKCS#12 file",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ...errors import ConfigError
    from ..config import report_problems

    try:
        result = run_scenes(mtls=args.mtls)
    except ConfigError as exc:  # a bad variable, or --mtls p12 without cryptography
        report_problems(exc, args.json)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(document(result), indent=2, default=str))
    else:
        print_result(result)
    return EXIT_OK if result.ok else EXIT_PROBLEM
