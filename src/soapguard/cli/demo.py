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

Every expectation is checked; the command exits 1 if any behaviour is wrong.
"""

from __future__ import annotations

import argparse
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import requests

from ._exit import OK as EXIT_OK
from ._exit import PROBLEM as EXIT_PROBLEM
from ._exit import USAGE as EXIT_USAGE

BINDING = "{urn:soapguard:ledger}LedgerSoapBinding"
#: settings that keep the demo fast; a test may override any Config field
_DEMO_SETTINGS: dict[str, Any] = {
    "idempotent_operations": ("Get*",),
    "backoff_initial": 0.01,
    "backoff_max": 0.05,
    "connect_timeout": 5.0,
    "read_timeout": 5.0,
    "deadline": 20.0,
}
_LIFETIME = 120.0


@dataclass
class Scene:
    number: int
    title: str
    explanation: str
    checks: list[tuple[str, bool]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(passed for _, passed in self.checks)

    def expect(self, text: str, passed: bool) -> None:
        self.checks.append((text, passed))


@dataclass(frozen=True)
class Expected:
    """What a scene's failed attempt, final event and connection count must be."""

    error_type: str
    decision: str
    reason: str
    final: str
    connections: int


@dataclass
class DemoResult:
    server_url: str
    proxy_url: str
    scenes: list[Scene]
    events: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return all(scene.ok for scene in self.scenes)


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "demo",
        parents=[common],
        help="show recovery and refused replays on an embedded service (exit 1 if wrong)",
        description=(
            "Run an embedded ledger SOAP service over TLS on 127.0.0.1 behind a fault "
            "proxy and call it with soapguard.Client while faults are injected.  Needs "
            "nothing but the package; exits 1 if any behaviour is not as expected."
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


def run_scenes(mtls: str | None = None, **overrides: Any) -> DemoResult:
    """Run the three scenes; ``overrides`` replace Config fields (e.g. for a negative test).

    ``mtls`` (``"pem"`` or ``"p12"``) makes the service require the demo client certificate.
    """
    import soapguard

    from .. import Config
    from ..testing import FaultProxy
    from ..testing.ledger import DEMO_CA_FILE, LedgerServer
    from . import demo_mtls

    events: list[dict[str, Any]] = []
    settings = {**_DEMO_SETTINGS, "ca_bundle": DEMO_CA_FILE, "on_event": events.append}
    config = Config(**{**settings, **demo_mtls.client_identity(mtls), **overrides})
    with (
        LedgerServer.demo(lifetime=_LIFETIME, mtls=mtls is not None) as server,
        FaultProxy(("127.0.0.1", server.port), lifetime=_LIFETIME) as proxy,
    ):
        # an IP address: "localhost" would also try ::1, where nothing listens
        proxy_url = f"https://127.0.0.1:{proxy.port}/ledger"
        client = soapguard.Client(server.wsdl_url, config=config)  # WSDL straight from the server
        service = client.create_service(BINDING, proxy_url)
        tag = secrets.token_hex(4)
        scenes = []
        for number, play in enumerate((_recover, _refuse, _never_left), start=1):
            client.transport.adapter.close_idle(proxy_url)  # every scene on a fresh connection
            first_event, connections = len(events), proxy.stats().connections
            scene, expected = play(service, proxy, server, f"demo-{tag}-{number}")
            scene.number = number
            scene.events = events[first_event:]
            scene.facts["connections_opened"] = proxy.stats().connections - connections
            _verify(scene, expected)
            scenes.append(scene)
        if mtls is not None:
            scene = demo_mtls.mutual_tls_scene(mtls, server.client_subjects)
            scene.number = len(scenes) + 1
            scenes.append(scene)
    return DemoResult(server.url, proxy_url, scenes, events)


def _recover(service: Any, proxy: Any, server: Any, request_id: str) -> tuple[Scene, Expected]:
    from ..testing import Fault

    scene = Scene(
        0,
        "Idempotent GetBalance recovers from a corrupted response record",
        "GetBalance matches Get* (idempotent), so after the local bad_record_mac it "
        "is retried on a fresh connection.",
    )
    proxy.add_fault(Fault.flip_response_record(n=1))
    outcome = _call(lambda: service.GetBalance(account="42", requestId=request_id), scene)
    scene.expect("the call succeeded", outcome is not None)
    final = "soapguard.call_recovered"
    return scene, Expected("tls.bad_record_mac", "retry", "idempotent", final, connections=2)


def _refuse(service: Any, proxy: Any, server: Any, request_id: str) -> tuple[Scene, Expected]:
    from ..testing import Fault

    scene = Scene(
        0,
        "Non-idempotent Transfer is not replayed after the same fault",
        "The whole request had left, so the server may have booked it; a replay "
        "could book it twice, so soapguard raises instead.",
    )
    proxy.add_fault(Fault.flip_response_record(n=1))
    outcome = _call(lambda: _transfer(service, request_id), scene)
    executions = server.executions(request_id)
    scene.facts["server_executions"] = executions
    scene.expect(
        "the call raised requests.exceptions.SSLError",
        outcome is None and scene.facts.get("raised") == "SSLError",
    )
    scene.expect(
        "the server executed it exactly once (why a replay would duplicate it)", executions == 1
    )
    final = "soapguard.call_failed"
    return scene, Expected("tls.bad_record_mac", "raise", "not_idempotent", final, connections=1)


def _never_left(service: Any, proxy: Any, server: Any, request_id: str) -> tuple[Scene, Expected]:
    from ..testing import Fault

    scene = Scene(
        0,
        "Transfer whose connection is reset on accept is retried transparently",
        "No byte of the request left (request_sent=none), so even a write is safe to send again.",
    )
    proxy.add_fault(Fault.rst_on_accept())
    outcome = _call(lambda: _transfer(service, request_id), scene)
    executions = server.executions(request_id)
    scene.facts["server_executions"] = executions
    scene.expect("the call succeeded", outcome is not None)
    scene.expect("the server executed it exactly once", executions == 1)
    final = "soapguard.call_recovered"
    return scene, Expected("connection.reset", "retry", "not_sent", final, connections=2)


def _transfer(service: Any, request_id: str) -> Any:
    return service.Transfer(
        fromAccount="1001", toAccount="2002", amount=Decimal("250.00"), requestId=request_id
    )


def _call(call: Callable[[], Any], scene: Scene) -> Any:
    try:
        result = call()
    except requests.RequestException as exc:
        scene.facts["raised"] = type(exc).__name__
        scene.facts["error"] = str(exc)
        return None
    except Exception as exc:  # an unexpected kind of failure: report it, the checks fail
        scene.facts["raised"] = type(exc).__name__
        scene.facts["error"] = str(exc)
        return None
    scene.facts["result"] = _plain(result)
    return result if result is not None else {}


def _plain(value: Any) -> Any:
    from zeep.helpers import serialize_object

    plain = serialize_object(value)  # type: ignore[no-untyped-call]
    return json.loads(json.dumps(plain, default=str))


def _verify(scene: Scene, want: Expected) -> None:
    """Checks that need the scene's events and connection count (known after it ran)."""
    kinds = [event["event"] for event in scene.events]
    scene.expect(
        f"events: attempt_failed then {want.final.removeprefix('soapguard.')}",
        kinds == ["soapguard.attempt_failed", want.final],
    )
    first = scene.events[0] if scene.events else {}
    scene.expect(
        f"classified {want.error_type}, decision {want.decision} ({want.reason})",
        (first.get("error.type"), first.get("decision"), first.get("decision_reason"))
        == (want.error_type, want.decision, want.reason),
    )
    opened = scene.facts["connections_opened"]
    scene.expect(
        f"{want.connections} connection(s) opened (proxy stats), got {opened}",
        opened == want.connections,
    )


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from .config import report_problems

    try:
        result = run_scenes(mtls=args.mtls)
    except ConfigError as exc:  # e.g. --mtls p12 without the cryptography package
        report_problems(exc, args.json)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(_document(result), indent=2, default=str))
    else:
        _print(result)
    return EXIT_OK if result.ok else EXIT_PROBLEM


def _document(result: DemoResult) -> dict[str, Any]:
    scenes = []
    for scene in result.scenes:
        doc = asdict(scene)
        doc.pop("events")
        doc["checks"] = [{"expectation": text, "ok": passed} for text, passed in scene.checks]
        doc["ok"] = scene.ok
        scenes.append(doc)
    return {
        "ok": result.ok,
        "server_url": result.server_url,
        "proxy_url": result.proxy_url,
        "scenes": scenes,
        "events": result.events,
    }


def _print(result: DemoResult) -> None:
    print("soapguard demo: embedded ledger service (PUBLIC demo certificate, loopback only)")
    print(f"  server {result.server_url}, calls go through the fault proxy {result.proxy_url}\n")
    for scene in result.scenes:
        print(f"{scene.number}. {scene.title}")
        print(f"   {scene.explanation}")
        facts = scene.facts
        if "client_certificates_seen" in facts:
            print(f"   client certificates seen by the server: {facts['client_certificates_seen']}")
        else:
            _print_call(facts)
        for text, passed in scene.checks:
            print(f"   [{'ok' if passed else 'FAIL'}] {text}")
        print()
    print("Diagnostic events (full JSON with --json):")
    for event in result.events:
        print("  " + event_line(event))
        if event.get("hint"):
            print(f"      hint: {event['hint']}")
    print(f"\n{'all behaviour as expected' if result.ok else 'UNEXPECTED BEHAVIOUR (exit 1)'}")


def _print_call(facts: dict[str, Any]) -> None:
    if "raised" in facts:
        print(f"   -> raised {facts['raised']}: {facts['error']}")
    else:
        print(f"   -> returned {facts.get('result')}")
    print(f"   connections opened: {facts['connections_opened']}", end="")
    if "server_executions" in facts:
        print(f"; server executions of this requestId: {facts['server_executions']}", end="")
    print()


def event_line(event: dict[str, Any]) -> str:
    """One compact line for a diagnostic event."""
    origin = f"({event['error.origin']})" if event.get("error.origin") else ""
    return (
        f"{event.get('event')}  {event.get('rpc.method')}  {event.get('error.type')}{origin}  "
        f"phase={event.get('phase')} request_sent={event.get('request_sent')}  "
        f"-> {event.get('decision')} ({event.get('decision_reason')})"
    )
