"""``soapguard probe``: real handshakes, certificates, record caps and calls on loopback TLS."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from soapguard.cli import main
from soapguard.config import Config
from soapguard.testing.ledger import LedgerServer
from soapguard.testing.ledger.http import server_context
from soapguard.tls import context as tls

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning"),
]
TLS12 = ssl.TLSVersion.TLSv1_2


def probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["probe", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def rows(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["kind"], row["name"]): row for row in report["handshakes"]}


def leaf_sha256(cert: trustme.LeafCert) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    return hashlib.sha256(der).hexdigest()


def caps_available() -> bool:
    return tls.caps_state(tls.context_for(Config(max_record_size=512))).applied


@pytest.fixture
def tls12_ledger(
    make_ledger: Callable[..., LedgerServer], server_ssl_context: Callable[..., ssl.SSLContext]
) -> LedgerServer:
    return make_ledger(ssl_context=server_ssl_context(max_version=TLS12))


def test_tls12_only_server(
    tls12_ledger: LedgerServer,
    ca_file: str,
    server_cert: trustme.LeafCert,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"https://127.0.0.1:{tls12_ledger.port}/ledger?wsdl"
    code, report = probe(capsys, url, "--ca-bundle", ca_file)
    assert code == 0, report["problems"]
    seen = rows(report)
    assert seen["version", "1.2"]["ok"]
    assert seen["version", "1.2"]["tls_version"] == "1.2"
    for refused in (
        ("version", "1.3"),
        ("version", "1.1"),
        ("version", "1.0"),
        ("profile", "modern"),
    ):
        assert not seen[refused]["ok"]
        assert seen[refused]["error"]["error.type"] == "tls.protocol_version", refused
    assert seen["profile", "intermediate"]["ok"]
    assert seen["current", "current"]["cipher"].startswith("ECDHE-")
    cert = report["certificate"]
    assert cert["verified"] is True
    assert cert["hostname_match"] is True
    assert cert["chain"][0]["sha256"] == leaf_sha256(server_cert)
    assert cert["chain"][0]["names"] == ["localhost", "127.0.0.1"]
    assert cert["chain"][0]["issuer"] == cert["chain"][1]["subject"]
    assert set(report["timings"]) == {"connect_ms", "handshake_ms", "first_byte_ms"}
    assert all(value is not None for value in report["timings"].values())
    record = report["record_size"]
    assert record["uncapped"]["bytes_in"] > 1024  # the WSDL: big enough to tell
    if caps_available():  # an OpenSSL server always honours max_fragment_length
        assert record["verdict"] == "honoured"
        assert record["capped"]["negotiated_mfl"] == 512
        assert record["capped"]["largest_record_in"] <= 512 + 64
        assert record["uncapped"]["largest_record_in"] > 4096
    assert report["recommendations"] == []


def test_untrusted_certificate_is_reported_and_the_chain_still_read(
    tls12_ledger: LedgerServer, server_cert: trustme.LeafCert, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = probe(capsys, f"https://127.0.0.1:{tls12_ledger.port}/ledger?wsdl")
    assert code == 1
    cert = report["certificate"]
    assert cert["verified"] is False
    assert cert["error"]["error.type"] == "tls.certificate"
    assert "unable to get local issuer certificate" in cert["error"]["verify_message"]
    assert cert["chain_read_unverified"] is True
    assert cert["chain"][0]["sha256"] == leaf_sha256(server_cert)
    seen = rows(report)
    assert seen["version", "1.2"]["ok"]
    assert seen["version", "1.2"]["verified"] is False
    assert seen["version", "1.3"]["error"]["error.type"] == "tls.protocol_version"
    assert [r["variable"] for r in report["recommendations"]] == ["SOAPGUARD_CA_BUNDLE"]
    assert any("certificate is not valid" in p for p in report["problems"])


def test_hostname_mismatch(
    ca: trustme.CA,
    ca_file: str,
    make_ledger: Callable[..., LedgerServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = ca.issue_cert("other.example")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in wrong.cert_chain_pems))
    wrong.private_key_pem.write_to_path(str(key))
    server = make_ledger(ssl_context=server_context(str(chain), str(key)))
    code, report = probe(capsys, f"https://127.0.0.1:{server.port}/ledger", "--ca-bundle", ca_file)
    assert code == 1
    cert = report["certificate"]
    assert cert["hostname_match"] is False
    assert "mismatch" in cert["error"]["verify_message"].lower()
    assert cert["chain"][0]["names"] == ["other.example"]
    assert all(r["variable"] != "SOAPGUARD_CA_BUNDLE" for r in report["recommendations"])


def test_ca_bundle_from_the_environment_and_text_output(
    tls12_ledger: LedgerServer,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOAPGUARD_CA_BUNDLE", ca_file)
    assert main(["probe", f"https://localhost:{tls12_ledger.port}/ledger?wsdl"]) == 0
    out = capsys.readouterr().out
    assert "Certificate: verified (trusting SOAPGUARD_CA_BUNDLE); hostname match: yes" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("version 1.3"))
    assert line.split()[2:4] == ["failed", "tls.protocol_version"]
    assert "No changes recommended." in out
    assert ca_file not in out


def test_repeated_calls_count_failures_per_candidate(
    tls12_ledger: LedgerServer, ca_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tls12_ledger.fail_next(503, times=2)  # the first two POSTs: the current settings' calls
    url = f"https://127.0.0.1:{tls12_ledger.port}/ledger?wsdl"
    code, report = probe(
        capsys,
        url,
        "--ca-bundle",
        ca_file,
        "--call",
        "GetBalance",
        "--args",
        '{"account": "7"}',
        "--repeat",
        "3",
    )
    assert code == 1
    current, *others = report["calls"]["candidates"]
    assert (current["name"], current["calls"], current["ok"]) == ("current", 3, 1)
    assert current["failures"] == {"http.status": 2}
    assert [(c["name"], c["ok"], c["failures"]) for c in others] == [
        ("record cap 4096", 3, {}),
        ("record cap 2048", 3, {}),
    ]
    assert "2 of 3 calls failed with the current settings" in report["problems"]
    # a 503 is not something smaller records cure
    assert report["recommendations"] == []
    assert tls12_ledger.executions_total("GetBalance") == 7  # 9 calls, 2 answered with 503


def test_progress_line_and_call_table(
    tls12_ledger: LedgerServer, ca_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"https://127.0.0.1:{tls12_ledger.port}/ledger?wsdl"
    code = main(
        [
            "probe",
            url,
            "--ca-bundle",
            ca_file,
            "--call",
            "GetBalance",
            "--args",
            '{"account": "1"}',
            "--repeat",
            "2",
            "--progress",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "\r[1/3] current: 0/2 calls, 0 failed" in captured.err
    assert "\rhandshake: version 1.3" in captured.err
    table = captured.out.split("Calls: GetBalance x2 per candidate, no retries\n", 1)[1]
    assert table.splitlines()[1].split() == ["current", "2", "2"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--call", "Nope"], "no operation 'Nope'; it has: GetBalance, GetStatement"),
        (["--call", "GetBalance", "--args", "[1]"], "--args must be a JSON object"),
        (["--call", "GetBalance", "--args", "{nope"], "--args is not valid JSON"),
        (["--call", "GetBalance", "--args", '{"bogus": 1}'], "arguments do not fit GetBalance"),
    ],
)
def test_call_usage_errors(
    tls12_ledger: LedgerServer,
    ca_file: str,
    extra: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"https://127.0.0.1:{tls12_ledger.port}/ledger?wsdl"
    assert main(["probe", url, "--ca-bundle", ca_file, "--budget", "30", *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["http://127.0.0.1:1/"],
        ["https://127.0.0.1:1/", "--repeat", "0"],
        ["https://127.0.0.1:1/", "--timeout", "-1"],
        ["https://127.0.0.1:99999/"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert main(["probe", *args]) == 2


def test_nothing_listening_is_a_problem(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as holder:  # a port nothing listens on
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    code, report = probe(capsys, f"https://127.0.0.1:{port}/")
    assert code == 1
    assert rows(report)["current", "current"]["error"]["error.type"] == "connection.refused"
    assert report["record_size"] is None
    assert "the current settings cannot connect (connection.refused)" in report["problems"]


def test_probe_as_a_subprocess(tls12_ledger: LedgerServer, ca_file: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAPGUARD_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    env["SOAPGUARD_CA_BUNDLE"] = ca_file
    url = f"https://127.0.0.1:{tls12_ledger.port}/ledger?wsdl"
    result = subprocess.run(
        [sys.executable, "-m", "soapguard", "probe", url, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert rows(report)["version", "1.2"]["ok"]
    assert report["certificate"]["trust_store"] == "SOAPGUARD_CA_BUNDLE"
