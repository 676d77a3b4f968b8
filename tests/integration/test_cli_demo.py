"""``soapguard demo``: recovery and refused replays on the embedded service, checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from soapguard.cli import demo as _cli_demo
from soapguard.cli import main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(60)


def test_demo_shows_recovered_and_refused_calls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "[FAIL]" not in out
    assert "1. Idempotent GetBalance recovers" in out
    assert "2. Non-idempotent Transfer is not replayed" in out
    assert "server executions of this requestId: 1" in out
    assert "3. Transfer whose connection is reset on accept is retried" in out
    events = [line.split() for line in out.splitlines() if line.startswith("  soapguard.")]
    assert [(e[0], e[1], e[2]) for e in events] == [
        ("soapguard.attempt_failed", "GetBalance", "tls.bad_record_mac(local)"),
        ("soapguard.call_recovered", "GetBalance", "tls.bad_record_mac(local)"),
        ("soapguard.attempt_failed", "Transfer", "tls.bad_record_mac(local)"),
        ("soapguard.call_failed", "Transfer", "tls.bad_record_mac(local)"),
        ("soapguard.attempt_failed", "Transfer", "connection.reset"),
        ("soapguard.call_recovered", "Transfer", "connection.reset"),
    ]
    assert out.rstrip().endswith("all behaviour as expected")


def test_demo_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True
    recovered, refused, never_left = doc["scenes"]
    assert recovered["facts"]["connections_opened"] == 2
    assert refused["facts"]["raised"] == "SSLError"
    assert refused["facts"]["server_executions"] == 1
    assert never_left["facts"]["server_executions"] == 1
    assert never_left["facts"]["result"]["status"] == "BOOKED"
    assert all(check["ok"] for scene in doc["scenes"] for check in scene["checks"])
    decisions = [(e["decision"], e["decision_reason"]) for e in doc["events"]]
    assert decisions[0::2] == [
        ("retry", "idempotent"),
        ("raise", "not_idempotent"),
        ("retry", "not_sent"),
    ]
    assert doc["events"][2]["request_sent"] == "full"
    assert doc["events"][4]["request_sent"] == "none"


def test_wrong_retry_rules_are_caught() -> None:
    """With nothing idempotent, the GetBalance scene must fail its checks."""
    result = _cli_demo.run_scenes(idempotent_operations=())
    assert not result.ok
    recover = result.scenes[0]
    assert not recover.ok
    assert ("the call succeeded", False) in recover.checks
    assert result.scenes[2].ok  # a write that never left is still retried


def test_a_replayed_write_makes_the_demo_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Declaring everything idempotent replays Transfer: the server books it twice."""
    monkeypatch.setitem(_cli_demo._DEMO_SETTINGS, "idempotent_operations", ("*",))
    assert main(["demo", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    refused = doc["scenes"][1]
    assert refused["facts"]["server_executions"] == 2
    assert {
        "expectation": "the server executed it exactly once (why a replay would duplicate it)",
        "ok": False,
    } in refused["checks"]


def test_demo_as_a_subprocess() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAPGUARD_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-m", "soapguard", "demo", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True
    assert result.stderr == ""  # no diagnostics log spam


@pytest.mark.parametrize("form", ["pem", "p12"])
def test_demo_with_mutual_tls(capsys: pytest.CaptureFixture[str], form: str) -> None:
    assert main(["demo", "--mtls", form, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True
    *calls, mutual = doc["scenes"]
    assert len(calls) == 3  # the same three scenes, now over mutual TLS
    assert mutual["checks"] == [
        {"expectation": "the server saw the demo client certificate", "ok": True}
    ]
    assert mutual["facts"]["client_certificates_seen"] >= 4


def test_demo_mutual_tls_server_refuses_a_client_without_its_certificate() -> None:
    with pytest.raises(requests.exceptions.SSLError):  # already loading the WSDL
        _cli_demo.run_scenes(mtls="pem", client_cert=None, client_key=None,
                             client_key_password=None)  # fmt: skip
