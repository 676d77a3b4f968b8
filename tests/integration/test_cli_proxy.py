"""``soapguard proxy``: faults injected for a real client, reported as they fire."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

import soapguard
from soapguard import Config
from soapguard.cli import main
from soapguard.testing.ledger import LedgerServer

ROOT = Path(__file__).resolve().parents[2]
BINDING = "{urn:soapguard:ledger}LedgerSoapBinding"
pytestmark = pytest.mark.timeout(60)


class LineQueue(io.StringIO):
    """A stdout replacement that hands each complete line to a queue."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: queue.Queue[str] = queue.Queue()
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        for line in complete:
            self.lines.put(line)
        return len(text)

    def next(self) -> str:
        return self.lines.get(timeout=30)


def client_through(ledger: LedgerServer, port: int, ca_file: str) -> tuple[Any, Any]:
    """A client whose calls go through the proxy on ``port``, and its service proxy."""
    client = soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=ca_file))
    return client, client.create_service(BINDING, f"https://127.0.0.1:{port}/ledger")


def capture_lines(monkeypatch: pytest.MonkeyPatch) -> LineQueue:
    """Send stdout to a LineQueue (in the test body: pytest swaps stdout between phases)."""
    lines = LineQueue()
    monkeypatch.setattr(sys, "stdout", lines)
    return lines


def test_injected_fault_is_classified_by_the_client(
    ledger: LedgerServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdout_lines = capture_lines(monkeypatch)
    argv = [
        "proxy",
        "--upstream",
        f"127.0.0.1:{ledger.port}",
        "--fault",
        "flip-response-record:1",
        "--exit-when-done",
        "--json",
        "--lifetime",
        "60",
    ]
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(main(argv)))
    runner.start()
    listening = json.loads(stdout_lines.next())
    assert listening["event"] == "listening"
    assert listening["host"] == "127.0.0.1"
    assert listening["faults"] == ["flip-response-record:1"]

    client, service = client_through(ledger, listening["port"], ca_file)
    with pytest.raises(requests.exceptions.SSLError) as info:
        service.GetBalance(account="1")
    client.transport.close()
    assert info.value.report["error.type"] == "tls.bad_record_mac"  # type: ignore[attr-defined]
    assert info.value.report["error.origin"] == "local"  # type: ignore[attr-defined]

    fault = json.loads(stdout_lines.next())
    assert (fault["event"], fault["fired"], fault["spec"]) == (
        "fault",
        True,
        "flip-response-record:1",
    )
    assert (fault["connection"], fault["request"]) == (1, 1)
    summary = json.loads(stdout_lines.next())
    assert summary["reason"] == "done"
    assert summary["fired"] == {"flip-response-record": 1}
    runner.join(30)
    assert codes == [0]


def test_repeat_suffix_queues_a_fault_several_times(
    ledger: LedgerServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdout_lines = capture_lines(monkeypatch)
    argv = [
        "proxy",
        "--upstream",
        f"127.0.0.1:{ledger.port}",
        "--fault",
        "rst-on-acceptx2",
        # a last fault on the request that succeeds keeps the proxy from counting itself
        # done (all faults used, no connection open) while the client backs off
        "--fault",
        "stall:0.01",
        "--exit-when-done",
    ]
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(main(argv)))
    runner.start()
    first = stdout_lines.next()
    assert first.startswith("listening on 127.0.0.1:")
    port = int(first.split()[2].rstrip(",").rsplit(":", 1)[1])
    client, service = client_through(ledger, port, ca_file)
    # two connections reset before the request left: retried (not_sent), third one works
    request_id = "proxy-cli-rst"
    service.Transfer(fromAccount="1", toAccount="2", amount=Decimal(1), requestId=request_id)
    assert ledger.executions(request_id) == 1
    fired = sorted(stdout_lines.next() for _ in range(3))
    assert fired[0].startswith("fired rst-on-accept on connection ")
    assert fired[1].startswith("fired rst-on-accept on connection ")
    assert fired[2].startswith("fired stall:0.01 on connection 3 request 1")
    client.transport.close()  # --exit-when-done waits for open connections to close
    assert stdout_lines.next().startswith("stopped (done): 3 connections, 1 requests")
    runner.join(30)
    assert codes == [0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "0.0.0.0:0"], "not a loopback address"),
        (["--random", "0.5"], "--random needs --fault"),
        (["--fault", "stall:1x2", "--random", "0.5"], "--random needs --fault"),
        (["--seed", "3"], "--seed only applies with --random"),
        (["--exit-when-done"], "--exit-when-done needs queued --fault"),
    ],
)
def test_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proxy", "--upstream", "127.0.0.1:9", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("spec", ["explode", "stall", "flip-response-record:0", "stall:1x0"])
def test_bad_fault_specs_are_usage_errors(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proxy", "--upstream", "127.0.0.1:9", "--fault", spec]) == 2
    assert "--fault" in capsys.readouterr().err


def test_ctrl_c_in_a_subprocess_prints_a_summary(ledger: LedgerServer, ca_file: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAPGUARD_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    command = [
        sys.executable,
        "-m",
        "soapguard",
        "proxy",
        "--json",
        "--upstream",
        f"127.0.0.1:{ledger.port}",
        "--fault",
        "rst-after-request",
    ]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        try:
            port = json.loads(proc.stdout.readline())["port"]
            client, service = client_through(ledger, port, ca_file)
            with pytest.raises(requests.exceptions.ConnectionError) as info:
                service.Transfer(fromAccount="1", toAccount="2", amount=Decimal(1))
            client.transport.close()
            report = info.value.report  # type: ignore[attr-defined]
            assert (report["error.type"], report["request_sent"]) == ("connection.reset", "full")
            fault = json.loads(proc.stdout.readline())
            assert fault["kind"] == "rst-after-request"
            proc.send_signal(signal.SIGINT)
            summary = json.loads(proc.stdout.readline())
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert summary["event"] == "summary"
    assert summary["reason"] == "interrupted"
    assert summary["fired"] == {"rst-after-request": 1}


# -- an upstream that refuses connections --------------------------------------------------------


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port: int = placeholder.getsockname()[1]  # nothing listens there once closed
    return port


def connect_and_see_it_closed(port: int) -> bytes:
    """Connect to the proxy and send a few bytes; what comes back (reset: nothing)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05hello")
            return sock.recv(100)
    except (ConnectionResetError, BrokenPipeError):  # the reset may come at any point
        return b""


def test_an_upstream_that_refuses_is_reported_once_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdout_lines = capture_lines(monkeypatch)
    upstream = f"127.0.0.1:{closed_port()}"
    argv = ["proxy", "--upstream", upstream, "--fault", "corrupt-handshake", "--exit-when-done"]
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(main(argv)))
    runner.start()
    first = stdout_lines.next()
    port = int(first.split()[2].rstrip(",").rsplit(":", 1)[1])
    assert connect_and_see_it_closed(port) == b""  # the client sees its connection end
    line = stdout_lines.next()
    assert line.startswith(f"upstream {upstream} failed to connect: ")
    assert "Connection refused" in line
    assert "connection 1" in line
    missed = stdout_lines.next()
    assert missed.startswith("MISSED corrupt-handshake on connection 1")
    summary = stdout_lines.next()
    assert summary.startswith("stopped (done): 1 connections")
    assert "upstream connects failed: 1" in summary
    runner.join(30)
    assert codes == [1]  # the queued fault missed


def test_upstream_failures_in_json_one_event_then_counts() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAPGUARD_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    upstream = f"127.0.0.1:{closed_port()}"
    command = [sys.executable, "-m", "soapguard", "proxy", "--json", "--upstream", upstream]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        try:
            port = json.loads(proc.stdout.readline())["port"]
            assert connect_and_see_it_closed(port) == b""
            first = json.loads(proc.stdout.readline())
            for _ in range(4):  # a flood: counted, not one line each
                assert connect_and_see_it_closed(port) == b""
            proc.send_signal(signal.SIGINT)
            rest = [json.loads(line) for line in proc.stdout]
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert first["event"] == "upstream_error"
    assert (first["upstream"], first["connection"], first["failures"]) == (upstream, 1, 1)
    assert "Connection refused" in first["error"]
    *counts, summary = rest
    assert {c["event"] for c in counts} == {"upstream_error"}
    assert sum(c["failures"] for c in counts) == 4  # however the polls grouped them
    assert summary["event"] == "summary"
    assert summary["upstream_failures"] == 5
