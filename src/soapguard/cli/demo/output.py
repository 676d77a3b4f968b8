"""What ``soapguard demo`` prints: the scenes for people, or one JSON document."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .. import _origin
from .._failure import headline
from .scenes import DemoResult

__all__ = ["document", "event_line", "print_result"]


def document(result: DemoResult) -> dict[str, Any]:
    """The ``--json`` document: scenes with their checks, the settings' origin, events."""
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
        "environment": result.environment,
        "setup_error": result.setup_error,
        "scenes": scenes,
        "events": result.events,
    }


def print_result(result: DemoResult) -> None:
    print("soapguard demo: embedded ledger service (PUBLIC demo certificate, loopback only)")
    print(f"  server {result.server_url}, calls go through the fault proxy {result.proxy_url}")
    for line in _origin.lines(result.environment):
        print(f"  {line}")
    print()
    if result.setup_error is not None:
        print(f"The client could not load the service's WSDL: {headline(result.setup_error)}")
        if result.setup_error.get("hint"):
            print(f"  hint: {result.setup_error['hint']}")
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
    if result.events:
        print("Diagnostic events (full JSON with --json):")
    for event in result.events:
        print("  " + event_line(event))
        if event.get("hint"):
            print(f"      hint: {event['hint']}")
    print(f"\n{_verdict(result)}")


def _verdict(result: DemoResult) -> str:
    if result.ok:
        return "all behaviour as expected"
    shown = [f"{row['variable']}={_origin.value_text(row['value'])}"
             for row in result.environment["from_env"]]  # fmt: skip
    if not shown:
        return "UNEXPECTED BEHAVIOUR (exit 1)"
    return "UNEXPECTED BEHAVIOUR (exit 1), with these settings from the environment: " + ", ".join(
        shown
    )


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
