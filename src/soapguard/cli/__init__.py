"""The ``soapguard`` command: ``demo``, ``probe``, ``proxy`` and ``config``.

Each subcommand lives in its own module (``demo``, ``probe``, ``proxy``,
``config``), which adds its arguments to the parser and runs it.  Those modules
import what their command needs only when it runs, so ``soapguard config`` does
not load the fault proxy or the demo's server.  Every subcommand accepts ``--json``
(one machine-readable document on stdout; JSON lines for ``proxy``).

Exit codes: 0 everything is fine, 1 a problem was found, 2 a usage or
configuration error (including a bad ``SOAPGUARD_*`` variable).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from . import _exit
from . import config as _cli_config
from . import demo as _cli_demo
from . import probe as _cli_probe
from . import proxy as _cli_proxy

__all__ = ["EXIT_OK", "EXIT_PROBLEM", "EXIT_USAGE", "build_parser", "main"]

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = _exit.OK, _exit.PROBLEM, _exit.USAGE

Runner = Callable[[argparse.Namespace], int]

_EPILOG = """\
exit codes: 0 ok, 1 a problem was found, 2 usage or configuration error.
Settings come from SOAPGUARD_* environment variables (see 'soapguard config')."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand (each sets ``run`` in its namespace)."""
    parser = argparse.ArgumentParser(
        prog="soapguard",
        description="Diagnose and harden SOAP calls to fragile TLS peers.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"soapguard {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (_cli_demo, _cli_probe, _cli_proxy, _cli_config):
        module.add_parser(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return _code(exc.code)
    run: Runner = args.run
    try:
        return run(args)
    except SystemExit as exc:  # e.g. a bad SOAPGUARD_* variable, already reported
        return _code(exc.code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `soapguard probe ... | head`
        return EXIT_OK


def _code(code: object) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_USAGE
