"""Canary: secrets appear nowhere -- logs at DEBUG, the JSON file, exceptions, reports.

Real servers on 127.0.0.1: the ledger, a fault proxy, and an echo server that
sends the request back (in a 500 text body, in a SOAP faultstring, in a header
line urllib3 cannot parse), the way careless servers do.
"""

from __future__ import annotations

import json
import logging
import socket
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
import zeep.exceptions
from zeep.wsse.username import UsernameToken

import soapguard
from faulty import BINDING
from identities import ClientIdentity, make_identity
from servers.echo import EchoServer
from soapguard import Config
from soapguard.cli import main
from soapguard.testing import Fault, FaultProxy
from soapguard.testing.ledger import LedgerServer
from soapguard.testing.ledger.http import server_context

PASSWORD = "Canary-Pa55word-7731"
BEARER = "Canary-Bearer-Token-4419"
ACCOUNT = "Canary-Account-0042"
URL_PASSWORD = "Canary-UrlPass-5512"
QUERY_TOKEN = "Canary-Query-Token-9083"
COOKIE = "Canary-Cookie-Value-6620"
KEY_PASSWORD = "Canary-KeyPass-3390"
SECRETS = (PASSWORD, BEARER, ACCOUNT, URL_PASSWORD, QUERY_TOKEN, COOKIE, KEY_PASSWORD)
WSDL = Path(__file__).resolve().parents[2] / "wsdl" / "ledger.wsdl"


class Everything(logging.Handler):
    """Keeps every record and renders it the way a JSON formatter would (message + extras)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.rendered: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        text = self.format(record)
        extras = {k: v for k, v in vars(record).items() if k not in ("msg", "args", "exc_info")}
        self.rendered.append(text + "\n" + json.dumps(extras, default=repr))


@pytest.fixture
def capture_everything() -> Iterator[Everything]:
    handler = Everything()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked into {where}"


@pytest.mark.timeout(60)
def test_no_secret_reaches_logs_files_exceptions_or_reports(
    capture_everything: Everything, ledger: LedgerServer, ca_file: str, tmp_path: Path
) -> None:
    events_file = tmp_path / "events.jsonl"
    config = Config(
        ca_bundle=ca_file,
        log_payloads=True,
        diagnostics_file=str(events_file),
        sensitive_elements=("account",),
        max_attempts=2,
        idempotent_operations=("GetBalance",),
        backoff_initial=0.001,
        backoff_max=0.001,
    )
    client = soapguard.Client(ledger.wsdl_url, wsse=UsernameToken("alice", PASSWORD), config=config)
    client.transport.session.headers["Authorization"] = f"Bearer {BEARER}"
    client.transport.session.headers["Cookie"] = f"session={BEARER}"
    with FaultProxy(upstream=("127.0.0.1", ledger.port)) as proxy:
        address = f"https://alice:{URL_PASSWORD}@127.0.0.1:{proxy.port}/ledger?token={QUERY_TOKEN}"
        service = client.create_service(BINDING, address)
        assert service.GetBalance(account=ACCOUNT).account == ACCOUNT  # the call itself works
        proxy.add_fault(Fault.flip_response_record(n=1), times=2)
        with pytest.raises(requests.exceptions.SSLError) as info:
            service.GetBalance(account=ACCOUNT)
    exc = info.value
    assert ledger.requests_seen >= 2  # the password really was sent (WS-Security header)
    assert len(exc.report["attempts"]) == 2  # type: ignore[attr-defined]

    for i, rendered in enumerate(capture_everything.rendered):
        assert_clean(rendered, f"log record #{i}")
    assert any("soapguard.diagnostics" in r for r in capture_everything.rendered)
    assert any("Envelope" in r for r in capture_everything.rendered)  # payloads were logged
    lines = events_file.read_text().splitlines()
    assert len(lines) == 3  # 2 attempt_failed + call_failed
    for line in lines:
        json.loads(line)
        assert_clean(line, "the diagnostics file")
    assert_clean(str(exc), "str(exc)")
    assert_clean(repr(exc), "repr(exc)")
    assert_clean(json.dumps(exc.report, default=str), "exc.report")  # type: ignore[attr-defined]
    assert_clean("".join(traceback.format_exception(exc)), "the traceback")


# -- servers that echo the request ---------------------------------------------------------------


@pytest.fixture
def echo(cert_files: tuple[str, str]) -> Iterator[EchoServer]:
    with EchoServer(server_context(*cert_files)) as server:
        yield server


def echo_service(echo: EchoServer, ca_file: str, password: str = PASSWORD) -> Any:
    """A client with every kind of secret, calling the echo server."""
    config = Config(
        ca_bundle=ca_file, log_payloads=True, sensitive_elements=("account",), max_attempts=1
    )
    client = soapguard.Client(str(WSDL), wsse=UsernameToken("alice", password), config=config)
    client.transport.session.headers["Authorization"] = f"Bearer {BEARER}"
    client.transport.session.headers["Cookie"] = f"session={COOKIE}"
    return client.create_service(BINDING, f"{echo.url}?apikey={QUERY_TOKEN}")


def assert_exception_clean(exc: BaseException) -> None:
    assert_clean(str(exc), "str(exc)")
    assert_clean(repr(exc), "repr(exc)")
    assert_clean(str(getattr(exc, "message", "")), "exc.message")
    assert_clean("".join(traceback.format_exception(exc)), "the traceback")
    report = getattr(exc, "report", {})
    assert_clean(json.dumps(report, default=str), "exc.report")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("mode", "raised"),
    [
        ("text", zeep.exceptions.TransportError),
        ("fault", zeep.exceptions.Fault),
        ("fault-escaped", zeep.exceptions.Fault),
    ],
)
def test_a_server_echoing_the_request_leaks_nothing(
    capture_everything: Everything, echo: EchoServer, ca_file: str, mode: str, raised: type
) -> None:
    echo.mode = mode
    service = echo_service(echo, ca_file)
    with pytest.raises(raised) as info:
        service.GetBalance(account=ACCOUNT)
    exc = info.value
    assert echo.requests == 1
    assert "POST /ledger" in exc.message  # the echo is in the message, redacted
    if mode == "text":  # the raw body stays available as data, as zeep gives it
        assert PASSWORD.encode() in exc.content
    assert_exception_clean(exc)
    assert exc.report["error.type"] in ("http.status", "soap.fault")
    for i, rendered in enumerate(capture_everything.rendered):
        assert_clean(rendered, f"log record #{i}")


@pytest.mark.timeout(60)
def test_a_password_with_markup_characters_is_masked_in_every_echoed_form(
    echo: EchoServer, ca_file: str
) -> None:
    password = "Canary<&>'\"Pa55-3318"
    for mode in ("text", "fault", "fault-escaped"):
        echo.mode = mode
        with pytest.raises(zeep.exceptions.Error) as info:
            echo_service(echo, ca_file, password=password).GetBalance(account=ACCOUNT)
        text = repr(info.value) + "".join(traceback.format_exception(info.value))
        assert "Pa55-3318" not in text, mode


@pytest.mark.timeout(60)
def test_urllib3_header_parse_warning_is_redacted_and_keeps_its_traceback(
    capture_everything: Everything, echo: EchoServer, ca_file: str
) -> None:
    echo.mode = "bad-headers"  # a header line carrying the cookie, and the URL with ?apikey=
    assert echo_service(echo, ca_file).GetBalance(account=ACCOUNT).balance == 10.5
    warnings = [r for r in capture_everything.records if r.name == "urllib3.connection"]
    assert warnings, "urllib3 did not warn: the test server no longer triggers it"
    assert "Failed to parse headers" in warnings[0].getMessage()
    assert warnings[0].exc_info is not None  # kept, with its messages scrubbed
    for i, rendered in enumerate(capture_everything.rendered):
        assert_clean(rendered, f"log record #{i}")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("failure", ["404", "refused"])
def test_a_failing_wsdl_load_does_not_show_the_url_token(
    capture_everything: Everything, ledger: LedgerServer, ca_file: str, failure: str
) -> None:
    port = ledger.port if failure == "404" else _closed_port()
    url = f"https://127.0.0.1:{port}/missing?wsdl&apikey={QUERY_TOKEN}"
    expected = requests.HTTPError if failure == "404" else requests.ConnectionError
    with pytest.raises(expected) as info:
        soapguard.Client(url, config=Config(ca_bundle=ca_file, connect_timeout=5))
    assert "missing?wsdl&apikey=***" in str(info.value)
    assert_exception_clean(info.value)
    for i, rendered in enumerate(capture_everything.rendered):
        assert_clean(rendered, f"log record #{i}")


@pytest.mark.timeout(60)
def test_a_short_password_is_masked_by_name_and_garbles_no_client(
    capture_everything: Everything, ledger: LedgerServer, ca_file: str
) -> None:
    config = Config(ca_bundle=ca_file, log_payloads=True, max_attempts=1)
    short = soapguard.Client(ledger.wsdl_url, wsse=UsernameToken("bob", "1"), config=config)
    other = soapguard.Client(ledger.wsdl_url, config=config)
    address = f"https://127.0.0.1:{_closed_port()}/ledger"
    for client in (short, other):
        with pytest.raises(requests.ConnectionError) as info:
            client.create_service(BINDING, address).GetBalance(account="1")
        assert "new connection to 127.0.0.1:" in str(info.value)
        assert "Connection(" not in str(info.value)  # no internal class names
        assert "127.0.0.1" in info.value.report["error.message"]  # type: ignore[attr-defined]
    posts = [r for r in capture_everything.rendered if "wsse:Password" in r]
    assert posts  # the payload was logged, the password element masked by name
    assert all(">1</wsse:Password>" not in r and ">***</wsse:Password>" in r for r in posts)


# -- the client key password ---------------------------------------------------------------------


@pytest.fixture
def canary_identity(ca: trustme.CA, tmp_path: Path) -> ClientIdentity:
    return make_identity(ca, tmp_path / "id", password=KEY_PASSWORD)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("form", ["p12", "encrypted_pem"])
def test_the_client_key_password_reaches_no_log_file_exception_report_or_config_output(
    capture_everything: Everything,
    make_ledger: Callable[..., LedgerServer],
    ca_file: str,
    canary_identity: ClientIdentity,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    form: str,
) -> None:
    server = make_ledger(client_ca=ca_file)
    events_file = tmp_path / "events.jsonl"
    if form == "p12":
        files = {"SOAPGUARD_CLIENT_CERT": canary_identity.p12}
    else:
        files = {"SOAPGUARD_CLIENT_CERT": canary_identity.cert,
                 "SOAPGUARD_CLIENT_KEY": canary_identity.encrypted_key}  # fmt: skip
    env = {**files, "SOAPGUARD_CLIENT_KEY_PASSWORD": KEY_PASSWORD}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = Config.from_env(
        ca_bundle=ca_file,
        tls_max_version="1.2",  # the proxy's faults land on response records, not the handshake
        log_payloads=True,
        diagnostics_file=str(events_file),
        max_attempts=2,
        idempotent_operations=("GetBalance",),
        backoff_initial=0.001,
        backoff_max=0.001,
    )
    client = soapguard.Client(server.wsdl_url, config=config)
    with FaultProxy(upstream=("127.0.0.1", server.port)) as proxy:
        service = client.create_service(BINDING, f"https://127.0.0.1:{proxy.port}/ledger")
        assert service.GetBalance(account="1").account == "1"
        proxy.add_fault(Fault.flip_response_record(n=1), times=2)
        with pytest.raises(requests.exceptions.SSLError) as info:
            service.GetBalance(account="1")
    assert server.client_subjects  # the key was really used
    assert_exception_clean(info.value)
    assert_clean(repr(config), "repr(Config)")
    for line in events_file.read_text().splitlines():
        assert_clean(line, "the diagnostics file")
    assert main(["config", "--json"]) == 0
    shown = capsys.readouterr().out
    assert_clean(shown, "soapguard config")
    assert {"variable": "SOAPGUARD_CLIENT_KEY_PASSWORD", "value": "***"}.items() <= next(
        row for row in json.loads(shown)["settings"] if row["field"] == "client_key_password"
    ).items()
    for i, rendered in enumerate(capture_everything.rendered):
        assert_clean(rendered, f"log record #{i}")


@pytest.mark.parametrize("form", ["p12", "encrypted_pem"])
def test_a_wrong_client_key_password_is_named_but_shown_nowhere(
    capture_everything: Everything,
    canary_identity: ClientIdentity,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    form: str,
) -> None:
    wrong = "Canary-Wrong-KeyPass-1207"
    monkeypatch.setenv("SOAPGUARD_CLIENT_KEY_PASSWORD", wrong)
    if form == "p12":
        monkeypatch.setenv("SOAPGUARD_CLIENT_CERT", canary_identity.p12)
    else:
        monkeypatch.setenv("SOAPGUARD_CLIENT_CERT", canary_identity.cert)
        monkeypatch.setenv("SOAPGUARD_CLIENT_KEY", canary_identity.encrypted_key)
    with pytest.raises(soapguard.ConfigError) as info:
        soapguard.Client(str(WSDL))
    assert [name for name, _ in info.value.problems] == ["SOAPGUARD_CLIENT_KEY_PASSWORD"]
    text = repr(info.value) + "".join(traceback.format_exception(info.value))
    assert main(["config"]) == 1  # the same problem, reported by variable
    out = capsys.readouterr()
    assert "SOAPGUARD_CLIENT_KEY_PASSWORD: does not decrypt" in out.err
    for where in (text, out.out, out.err, *capture_everything.rendered):
        assert wrong not in where
        assert KEY_PASSWORD not in where
