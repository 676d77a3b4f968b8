"""The demo's scenes: what each one does to the embedded service, and what it must see.

:func:`run_scenes` starts the ledger service and a fault proxy in front of it,
builds the client (:mod:`.settings`) and plays each scene on a fresh connection.
A scene records its facts (what the call returned or raised, connections opened,
server executions) and checks its expectations; nothing here prints.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .._failure import describe, headline

BINDING = "{urn:soapguard:ledger}LedgerSoapBinding"
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
    #: which settings came from SOAPGUARD_* variables, and which the demo ignored
    environment: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"from_env": [], "ignored_env": []}
    )
    #: the classified failure that kept the client from loading the service's WSDL
    setup_error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.setup_error is None and all(scene.ok for scene in self.scenes)


def run_scenes(
    mtls: str | None = None, environ: Mapping[str, str] | None = None, **overrides: Any
) -> DemoResult:
    """Run the scenes with the client the environment (``environ``, default ``os.environ``)
    configures; ``overrides`` replace Config fields (e.g. for a negative test).

    ``mtls`` (``"pem"`` or ``"p12"``) makes the service require the demo client certificate.
    Raises :class:`~soapguard.ConfigError` for a bad ``SOAPGUARD_*`` variable.
    """
    import soapguard

    from ...testing import FaultProxy
    from ...testing.ledger import LedgerServer
    from . import mtls as demo_mtls
    from .settings import client_config

    events: list[dict[str, Any]] = []
    config, origin = client_config(mtls, events.append, environ, **overrides)
    with (
        LedgerServer.demo(lifetime=_LIFETIME, mtls=mtls is not None) as server,
        FaultProxy(("127.0.0.1", server.port), lifetime=_LIFETIME) as proxy,
    ):
        # an IP address: "localhost" would also try ::1, where nothing listens
        proxy_url = f"https://127.0.0.1:{proxy.port}/ledger"
        result = DemoResult(server.url, proxy_url, [], events, origin)
        try:  # the WSDL straight from the server
            client = soapguard.Client(server.wsdl_url, config=config)
        except Exception as exc:  # e.g. TLS settings the service does not accept
            result.setup_error = describe(exc)
            return result
        service = client.create_service(BINDING, proxy_url)
        tag = secrets.token_hex(4)
        for number, play in enumerate((_recover, _refuse, _never_left), start=1):
            client.transport.adapter.close_idle(proxy_url)  # every scene on a fresh connection
            first_event, connections = len(events), proxy.stats().connections
            scene, expected = play(service, proxy, server, f"demo-{tag}-{number}")
            scene.number = number
            scene.events = events[first_event:]
            scene.facts["connections_opened"] = proxy.stats().connections - connections
            _verify(scene, expected)
            result.scenes.append(scene)
        client.transport.close()
        if mtls is not None:
            scene = demo_mtls.mutual_tls_scene(mtls, server.client_subjects)
            scene.number = len(result.scenes) + 1
            result.scenes.append(scene)
    return result


def _recover(service: Any, proxy: Any, server: Any, request_id: str) -> tuple[Scene, Expected]:
    from ...testing import Fault

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
    from ...testing import Fault

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
    from ...testing import Fault

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
    """The call's result (``{}`` for ``None``), or ``None`` when it raised: then the
    failure is in the facts as the events tell it, never as an exception's own text."""
    try:
        result = call()
    except Exception as exc:  # an unexpected kind of failure too: the checks then fail
        failure = describe(exc)
        scene.facts["raised"] = failure["raised"]
        scene.facts["error"] = headline(failure)
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
