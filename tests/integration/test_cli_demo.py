"""``soapguard demo``: recovery and refused replays on the embedded service, checked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
    from soapguard.cli.demo import settings as demo_settings

    monkeypatch.setitem(demo_settings.OWN, "idempotent_operations", ("*",))
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
    result = _cli_demo.run_scenes(mtls="pem", client_cert=None, client_key=None,
                                  client_key_password=None)  # fmt: skip
    assert not result.ok
    assert result.scenes == []  # already loading the WSDL failed
    assert result.setup_error is not None
    assert result.setup_error["raised"] == "SSLError"
    assert result.setup_error["phase"] == "handshake"


# -- the demo under the operator's SOAPGUARD_* variables ----------------------------------------

#: internal names that must never reach a person (urllib3's pool and connection reprs,
#: soapguard's subclasses of them, the retry wrapper's text)
LEAKS = re.compile(r"HTTPSPool\(|HTTPSConnection|_HTTPS|Max retries exceeded| object at 0x")


def run_demo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SOAPGUARD_")}
    base["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), base.get("PYTHONPATH")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "soapguard", "demo", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_demo_honours_the_environment_and_says_which_settings_came_from_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_RECORD_SIZE", "1024")
    assert main(["demo", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"variable": "SOAPGUARD_MAX_RECORD_SIZE", "value": 1024} in doc["environment"][
        "from_env"
    ]
    tls_events = [e for e in doc["events"] if e["error.type"].startswith("tls.")]
    assert tls_events  # scenes 1 and 2
    assert {e["tls.max_send_fragment"] for e in tls_events} == {1024}  # the cap was applied
    assert main(["demo"]) == 0
    assert "From the environment: SOAPGUARD_MAX_RECORD_SIZE=1024" in capsys.readouterr().out


def test_demo_with_retries_switched_off_by_the_environment_fails_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "1")
    assert main(["demo"]) == 1
    out = capsys.readouterr().out
    assert "From the environment: SOAPGUARD_MAX_ATTEMPTS=1" in out
    recover = out.split("1. Idempotent GetBalance", 1)[1].split("\n2. ", 1)[0]
    assert "[FAIL] the call succeeded" in recover
    assert "SOAPGUARD_MAX_ATTEMPTS=1" in out.rsplit("UNEXPECTED BEHAVIOUR", 1)[1]


def test_demo_keeps_its_own_ca_and_operations_and_names_the_variables_it_ignores(
    ca_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOAPGUARD_CA_BUNDLE", ca_file)  # another CA: the demo's server is not in it
    monkeypatch.setenv("SOAPGUARD_IDEMPOTENT_OPERATIONS", "*")  # would replay Transfer
    assert main(["demo", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ignored = {item["variable"] for item in doc["environment"]["ignored_env"]}
    assert ignored == {"SOAPGUARD_CA_BUNDLE", "SOAPGUARD_IDEMPOTENT_OPERATIONS"}
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Ignored: SOAPGUARD_CA_BUNDLE" in out
    assert ca_file not in out


def test_demo_bad_variable_exits_2_naming_it() -> None:
    result = run_demo(env={"SOAPGUARD_MAX_ATTEMPTS": "lots", "SOAPGUARD_TLS_PROFILE": "x"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "SOAPGUARD_MAX_ATTEMPTS: expected an integer" in result.stderr
    assert "SOAPGUARD_TLS_PROFILE: expected one of" in result.stderr
    assert result.stdout == ""
    result = run_demo("--json", env={"SOAPGUARD_MAX_ATTEMPTS": "lots"})
    assert result.returncode == 2
    assert json.loads(result.stdout)["problems"][0]["variable"] == "SOAPGUARD_MAX_ATTEMPTS"


def test_demo_that_cannot_reach_its_service_reports_the_classified_failure() -> None:
    """Suites the demo's server does not have: the WSDL cannot be loaded.  The failure is
    told as the events tell it (type, phase, message, hint), never as urllib3's text."""
    env = {"SOAPGUARD_TLS_MAX_VERSION": "1.2", "SOAPGUARD_CIPHERS": "AES256-SHA256"}
    result = run_demo(env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "tls.handshake_failure" in result.stdout
    assert "during handshake, request_sent=none" in result.stdout
    assert "SOAPGUARD_CIPHERS=AES256-SHA256" in result.stdout  # from the environment
    assert not LEAKS.search(result.stdout + result.stderr), result.stdout + result.stderr
    result = run_demo("--json", env=env)
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["setup_error"]["error.type"] == "tls.handshake_failure"
