"""``soapguard proxy``: the fault-injecting TLS-aware proxy as a command, for staging tests.

Runs a :class:`~soapguard.testing.FaultProxy` in front of ``--upstream``,
prints its listening address, one line per fault as it fires (or misses), a
line when the upstream cannot be reached (then counts, see :mod:`.feed`), and
a summary when it stops (Ctrl-C, SIGTERM, ``--lifetime`` or, with
``--exit-when-done``, once every queued fault has been used and no connection
is open).

``--fault SPEC`` takes :meth:`Fault.parse <soapguard.testing.Fault.parse>` specs,
queued in order; ``SPECxN`` queues one N times.  With ``--random RATE`` they are
the kinds to pick from instead, each request (or connection) faulted at RATE.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import re
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

from ...testing.proxy.faults import SPEC_FORMS, Fault
from .._exit import OK as EXIT_OK
from .._exit import PROBLEM as EXIT_PROBLEM
from .._exit import USAGE as EXIT_USAGE
from .feed import FaultFeed, Output, UpstreamFeed, summary

MAX_TIMES = 10_000
#: how often the proxy's stats are checked for new faults (seconds)
POLL_SECONDS = 0.2
_TIMES = re.compile(r"^(?P<spec>.+?)x(?P<times>\d+)$")
_SPECS = ", ".join(SPEC_FORMS)


def _address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``PORT`` (meaning 127.0.0.1)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text.strip()
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _fault(text: str) -> tuple[Fault, int]:
    """``SPEC`` or ``SPECxN`` -> (fault, times)."""
    match = _TIMES.match(text.strip())
    spec, times = (match["spec"], int(match["times"])) if match else (text, 1)
    if not 1 <= times <= MAX_TIMES:
        raise argparse.ArgumentTypeError(f"times must be from 1 to {MAX_TIMES}, got {times}")
    try:
        return Fault.parse(spec), times
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text!r}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "proxy",
        parents=[common],
        help="run the fault-injecting TLS-aware proxy in front of a server",
        description=(
            "Forward --listen to --upstream and inject faults (never decrypting anything).  "
            f"Faults are queued in order; SPECxN queues one N times.  Fault specs: {_SPECS}.  "
            "idle-reset:SECONDS resets the next request that arrives on a connection idle at "
            "least that long (as a peer that forgot it would), unexecuted; chunked-response, "
            "close-delimited-response and expect-stall:SECONDS need plain HTTP (they read or "
            "rewrite it) and wait in the queue for a plain connection.  With --random, the "
            "--fault specs are the kinds to pick from at random instead."
        ),
    )
    add = parser.add_argument
    add(
        "--listen",
        type=_address,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="where to listen (default 127.0.0.1 and a free port); loopback only "
        "unless --allow-remote",
    )
    add("--upstream", type=_address, required=True, metavar="HOST:PORT", help="the real server")
    add(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="SPEC[xN]",
        help="a fault to inject (repeatable), e.g. flip-response-record:1x3",
    )
    add("--random", type=_rate, metavar="RATE", help="fault requests at random with this rate")
    add("--seed", type=int, help="random seed, for reproducible --random runs")
    add(
        "--lifetime",
        type=_seconds,
        default=3600.0,
        metavar="S",
        help="stop after this many seconds (default 3600)",
    )
    add(
        "--exit-when-done",
        action="store_true",
        help="stop once every queued fault has fired or missed and no connection is open "
        "(exit 1 if one missed); end the queue with a fault a retrying client's last "
        "attempt takes (e.g. stall:0.01), or the proxy may stop during its backoff",
    )
    add("--allow-remote", action="store_true", help="allow a non-loopback --listen address")
    parser.set_defaults(run=run)


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` stands for is a loopback address."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _usage(message: str) -> int:
    print(f"soapguard proxy: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _invalid(args: argparse.Namespace) -> str | None:
    faults: list[tuple[Fault, int]] = args.fault
    if not args.allow_remote and not is_loopback(args.listen[0]):
        return f"{args.listen[0]} is not a loopback address (add --allow-remote)"
    if args.random is not None and (not faults or any(times > 1 for _, times in faults)):
        return "--random needs --fault SPEC kinds to pick from (without xN)"
    if args.random is None and args.seed is not None:
        return "--seed only applies with --random"
    if args.exit_when_done and (args.random is not None or not faults):
        return "--exit-when-done needs queued --fault specs (and no --random)"
    return None


def run(args: argparse.Namespace) -> int:
    problem = _invalid(args)
    if problem:
        return _usage(problem)
    faults: list[tuple[Fault, int]] = args.fault
    from ...testing.proxy.server import FaultProxy

    proxy = FaultProxy(args.upstream, args.listen, args.lifetime)
    if args.random is not None:
        proxy.set_random_faults(args.random, [fault for fault, _ in faults], seed=args.seed)
    for fault, times in faults if args.random is None else ():
        proxy.add_fault(fault, times)
    try:
        proxy.start()
    except OSError as exc:
        print(f"soapguard proxy: cannot listen on {_join(args.listen)}: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    out = Output(args.json)
    address, upstream = _join(proxy.address), _join(args.upstream)
    queued = [f"{f}x{n}" if n > 1 else str(f) for f, n in faults]
    doc = {"event": "listening", "host": proxy.address[0], "port": proxy.port}
    doc |= {"upstream": upstream, "lifetime": args.lifetime, "faults": queued}
    doc |= {"random": args.random, "seed": args.seed}
    stops = f"stops after {args.lifetime:g} s or Ctrl-C"
    out.emit(doc, f"listening on {address}, forwarding to {upstream} ({stops})")
    wanted = 0 if args.random is not None else sum(times for _, times in faults)
    reason, used, missed = "lifetime", 0, 0
    feed, unreachable = FaultFeed(), UpstreamFeed(upstream)
    with _terminate_as_interrupt():
        try:
            while True:
                stopped = proxy.join(POLL_SECONDS)  # an event wait: returns at once on stop
                stats = proxy.stats()
                unreachable.new(stats, out)
                for event, fired in feed.new(stats):
                    used, missed = used + 1, missed + (not fired)
                    out.fault(event, fired)
                if stopped:
                    break
                if args.exit_when_done and used >= wanted and stats.active == 0:
                    reason = "done"
                    break
        except KeyboardInterrupt:
            reason = "interrupted"
    proxy.stop()
    stats = proxy.stats()
    unreachable.new(stats, out, final=True)
    for event, fired in feed.new(stats):
        missed += not fired
        out.fault(event, fired)
    summary(out, stats, proxy.pending_faults(), reason)
    failed = args.exit_when_done and (reason != "done" or missed)
    return EXIT_PROBLEM if failed else EXIT_OK


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Let SIGTERM stop the proxy like Ctrl-C (main thread only; restored afterwards)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _join(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
