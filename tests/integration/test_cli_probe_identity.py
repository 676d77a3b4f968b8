"""``soapguard probe`` on identity: chain pins, configured pins, expiry, the client certificate."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from identities import ClientIdentity
from soapguard.cli import main
from soapguard.testing.ledger import LedgerServer
from soapguard.testing.ledger.http import server_context
from soapguard.tls import context as tls
from soapguard.tls.x509 import first_pem_certificate, spki_pin

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning"),
]


@pytest.fixture(autouse=True)
def _fresh() -> None:
    tls.clear_cache()


def probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["probe", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def pin_of(pem_file: str) -> str:
    der = first_pem_certificate(Path(pem_file).read_bytes())
    assert der is not None
    return spki_pin(der)


def test_pins_of_the_chain_a_matching_pin_and_a_pkcs12_client_certificate(
    make_ledger: Callable[..., LedgerServer],
    ca_file: str,
    cert_files: tuple[str, str],
    client_identity: ClientIdentity,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = make_ledger(client_ca=ca_file)
    monkeypatch.setenv("SOAPGUARD_CLIENT_KEY_PASSWORD", client_identity.password)
    monkeypatch.setenv("SOAPGUARD_PINNED_KEYS", pin_of(ca_file))
    url = f"https://127.0.0.1:{server.port}/ledger?wsdl"
    args = (url, "--ca-bundle", ca_file, "--client-cert", client_identity.p12)
    code, report = probe(capsys, *args)
    assert code == 0, report["problems"]
    identity = report["identity"]
    assert identity["chain_pins"] == [pin_of(cert_files[0]), pin_of(ca_file)]
    assert report["certificate"]["chain"][0]["spki_pin"] == pin_of(cert_files[0])
    assert identity["pins"] == {
        "configured": [pin_of(ca_file)],
        "verified_chain": True,
        "matched_index": 1,
        "ok": True,
    }
    client = identity["client_certificate"]
    assert client["ok"] is True
    assert f"CN={client_identity.common_name}" in client["subject"]
    assert client["spki_pin"] == pin_of(client_identity.cert)
    assert server.client_subjects  # the probe's GETs presented the certificate
    assert main(["probe", *args]) == 0
    text = capsys.readouterr().out
    assert f"Pins (for SOAPGUARD_PINNED_KEYS, comma-separated): {pin_of(cert_files[0])}," in text
    assert "configured pins: match certificate [1]" in text
    assert f"pin     {pin_of(cert_files[0])}" in text
    assert client_identity.password not in text


def test_a_pin_that_matches_nothing_is_a_problem(
    ledger: LedgerServer,
    ca_file: str,
    cert_files: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = "SHA256/" + base64.b64encode(hashlib.sha256(b"another key").digest()).decode()
    monkeypatch.setenv("SOAPGUARD_PINNED_KEYS", other)  # the algorithm in any case
    code, report = probe(capsys, f"https://127.0.0.1:{ledger.port}/ledger", "--ca-bundle", ca_file)
    assert code == 1
    assert report["identity"]["pins"]["ok"] is False
    [problem] = [p for p in report["problems"] if "SOAPGUARD_PINNED_KEYS" in p]
    assert pin_of(cert_files[0]) in problem
    assert "tls.pin_mismatch" in problem


def test_soon_expiring_certificates_are_noted_with_the_configured_period(
    ca: trustme.CA,
    ca_file: str,
    make_ledger: Callable[..., LedgerServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    soon = datetime.datetime.now() + datetime.timedelta(days=45, hours=12)
    leaf = ca.issue_cert("localhost", "127.0.0.1", not_after=soon)
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    server = make_ledger(ssl_context=server_context(str(chain), str(key)))
    url = f"https://127.0.0.1:{server.port}/ledger"
    code, report = probe(capsys, url, "--ca-bundle", ca_file)
    assert code == 0
    assert not any("expires" in note for note in report["notes"])  # 45 days: not within 30
    monkeypatch.setenv("SOAPGUARD_CERT_EXPIRY_WARNING", "60")
    code, report = probe(capsys, url, "--ca-bundle", ca_file)
    assert code == 0
    assert "the server certificate expires in 45 days" in report["notes"]


def test_a_client_certificate_that_cannot_be_loaded_is_a_problem_without_its_password(
    ledger: LedgerServer,
    ca_file: str,
    client_identity: ClientIdentity,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = "Probe-Wrong-Pa55-7003"
    monkeypatch.setenv("SOAPGUARD_CLIENT_KEY_PASSWORD", wrong)
    url = f"https://127.0.0.1:{ledger.port}/ledger"
    code = main(["probe", url, "--ca-bundle", ca_file, "--client-cert", client_identity.p12])
    text = capsys.readouterr().out
    assert code == 1
    assert "Client certificate: NOT USABLE" in text
    assert "SOAPGUARD_CLIENT_KEY_PASSWORD: does not decrypt" in text
    assert wrong not in text
