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

EXIT_OK, EXIT_PROBLEM = 0, 1
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
    parser.set_defaults(run=run)


def run_scenes(**overrides: Any) -> DemoResult:
    """Run the three scenes; ``overrides`` replace Config fields (e.g. for a negative test)."""
    import soapguard

    from .. import Config
    from ..testing import FaultProxy
    from ..testing.ledger import DEMO_CA_FILE, LedgerServer

    events: list[dict[str, Any]] = []
    settings = {**_DEMO_SETTINGS, "ca_bundle": DEMO_CA_FILE, "on_event": events.append}
    config = Config(**{**settings, **overrides})
    with (
        LedgerServer.demo(lifetime=_LIFETIME) as server,
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
    result = run_scenes()
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
        if "raised" in facts:
            print(f"   -> raised {facts['raised']}: {facts['error']}")
        else:
            print(f"   -> returned {facts.get('result')}")
        print(f"   connections opened: {facts['connections_opened']}", end="")
        if "server_executions" in facts:
            print(f"; server executions of this requestId: {facts['server_executions']}", end="")
        print()
        for text, passed in scene.checks:
            print(f"   [{'ok' if passed else 'FAIL'}] {text}")
        print()
    print("Diagnostic events (full JSON with --json):")
    for event in result.events:
        print("  " + event_line(event))
        if event.get("hint"):
            print(f"      hint: {event['hint']}")
    print(f"\n{'all behaviour as expected' if result.ok else 'UNEXPECTED BEHAVIOUR (exit 1)'}")


def event_line(event: dict[str, Any]) -> str:
    """One compact line for a diagnostic event."""
    origin = f"({event['error.origin']})" if event.get("error.origin") else ""
    return (
        f"{event.get('event')}  {event.get('rpc.method')}  {event.get('error.type')}{origin}  "
        f"phase={event.get('phase')} request_sent={event.get('request_sent')}  "
        f"-> {event.get('decision')} ({event.get('decision_reason')})"
    )
