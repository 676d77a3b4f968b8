"""``soapguard probe`` says what it measured, what it could not, and what failed first.

Each test here pins a message that once was untrue: ``None`` printed for a value
that was never measured, "0 of 0 calls failed" when the WSDL could not even be
loaded, and a ``SOAPGUARD_*`` variable silently overridden by a command-line option.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from collections.abc import Callable
from typing import Any

import pytest

from servers.plain_http import PlainHTTPServer
from soapguard.cli import main
from soapguard.testing.ledger import LedgerServer

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning"),
]
#: internal names that must never reach a person: urllib3's pool and connection
#: reprs, soapguard's own subclasses of them, and its retry wrapper's text
LEAKS = re.compile(r"HTTPSPool\(|HTTPSConnection|_HTTPS|Max retries exceeded| object at 0x")


def free_port() -> int:
    with socket.socket() as holder:  # a port nothing listens on once closed
        holder.bind(("127.0.0.1", 0))
        port: int = holder.getsockname()[1]
    return port


def text_probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["probe", *args, "--timeout", "5"])
    return code, capsys.readouterr().out


def json_probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["probe", *args, "--timeout", "5", "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def tls12_ledger(
    make_ledger: Callable[..., LedgerServer], server_ssl_context: Callable[..., ssl.SSLContext]
) -> LedgerServer:
    return make_ledger(ssl_context=server_ssl_context(max_version=ssl.TLSVersion.TLSv1_2))


# -- nothing printed as None ---------------------------------------------------------------------


def test_a_refused_port_prints_not_measured_instead_of_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = text_probe(capsys, f"https://127.0.0.1:{free_port()}/")
    assert code == 1
    assert not re.search(r"\bNone\b", out), out
    assert "hostname match: not checked" in out
    assert "Timings: connect not measured, handshake not measured, first byte not measured" in out


def test_a_server_that_never_speaks_tls_shows_the_connect_time_it_measured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with PlainHTTPServer() as server:
        url = f"https://127.0.0.1:{server.port}/svc?wsdl"
        code, out = text_probe(capsys, url)
        json_code, report = json_probe(capsys, url)
    assert code == json_code == 1
    assert not re.search(r"\bNone\b", out), out
    # TCP connected (measured), TLS never did (not measured)
    connect = report["timings"]["connect_ms"]
    assert isinstance(connect, float)
    assert report["timings"]["handshake_ms"] is None
    assert re.search(r"Timings: connect \d+(\.\d+)? ms, handshake not measured,", out), out


# -- the WSDL that cannot be loaded is the problem -----------------------------------------------


def test_call_when_the_wsdl_cannot_be_loaded_reports_that_failure_classified(
    tls12_ledger: LedgerServer, ca_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"https://127.0.0.1:{tls12_ledger.port}/no-such-service?wsdl"
    args = (url, "--ca-bundle", ca_file, "--call", "GetBalance", "--repeat", "2")
    code, report = json_probe(capsys, *args)
    assert code == 1
    wsdl = report["calls"]["wsdl_error"]
    assert wsdl["error.type"] == "http.status"
    assert wsdl["phase"] == "receive"
    assert "404" in wsdl["error.message"]
    assert "hint" in wsdl
    assert not any("0 of 0" in p for p in report["problems"]), report["problems"]
    problem = next(p for p in report["problems"] if "WSDL" in p)
    assert "http.status" in problem
    assert "404" in problem
    assert tls12_ledger.executions_total("GetBalance") == 0

    code, out = text_probe(capsys, *args)
    assert code == 1
    assert "0 of 0" not in out
    assert "PROBLEM: the WSDL could not be loaded" in out
    assert not LEAKS.search(out), out


def test_call_when_the_wsdl_cannot_be_loaded_for_its_certificate_gives_the_hint(
    tls12_ledger: LedgerServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"https://127.0.0.1:{tls12_ledger.port}/ledger?wsdl"  # untrusted: no --ca-bundle
    code, report = json_probe(capsys, url, "--call", "GetBalance", "--repeat", "1")
    assert code == 1
    wsdl = report["calls"]["wsdl_error"]
    assert (wsdl["error.type"], wsdl["phase"]) == ("tls.certificate", "handshake")
    assert "SOAPGUARD_CA_BUNDLE" in wsdl["hint"]
    code, out = text_probe(capsys, url, "--call", "GetBalance", "--repeat", "1")
    assert "hint: " in out
    assert not LEAKS.search(out), out


# -- where each setting came from ----------------------------------------------------------------


def test_an_option_that_overrides_a_variable_says_so(
    tls12_ledger: LedgerServer,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOAPGUARD_CA_BUNDLE", "/etc/s3cret/not-this-one.pem")
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "4")
    url = f"https://127.0.0.1:{tls12_ledger.port}/ledger?wsdl"
    code, report = json_probe(capsys, url, "--ca-bundle", ca_file)
    assert code == 0, report["problems"]
    origin = report["environment"]
    assert origin["ignored_env"] == [{"variable": "SOAPGUARD_CA_BUNDLE", "set_by": "--ca-bundle"}]
    assert {"variable": "SOAPGUARD_MAX_ATTEMPTS", "value": 4} in origin["from_env"]
    code, out = text_probe(capsys, url, "--ca-bundle", ca_file)
    assert code == 0
    assert "From the environment: SOAPGUARD_MAX_ATTEMPTS=4" in out
    assert "Ignored: SOAPGUARD_CA_BUNDLE (--ca-bundle given)" in out
    assert "s3cret" not in out
