"""The embedded ledger server and its WSDLs: what zeep sees, what the server counts."""

from __future__ import annotations

import concurrent.futures
import datetime
import http.client
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import zeep
from cryptography import x509
from lxml import etree
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from soapguard.testing import ledger as ledger_module
from soapguard.testing.ledger import DEMO_CA_FILE, LedgerServer, wsdl_dir
from soapguard.testing.ledger.soap import MAX_STATEMENT_LINES, balance_of

WSDL_DIR = Path(__file__).resolve().parents[2] / "wsdl"
XSD = "{http://www.w3.org/2001/XMLSchema}"
SOAP11_ADDRESS = "{http://schemas.xmlsoap.org/wsdl/soap/}address"
ENVELOPE = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:l="urn:soapguard:ledger"><soap:Body>{}</soap:Body></soap:Envelope>'
)
Clients = Callable[..., zeep.Client]


@pytest.fixture
def session(ca_file: str) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.verify = ca_file
        yield session


@pytest.fixture
def client_for(ca_file: str) -> Iterator[Clients]:
    """``client_for(server, **zeep_kwargs)``: a plain zeep client trusting the test CA."""
    sessions: list[requests.Session] = []

    def make(server: LedgerServer, **kwargs: object) -> zeep.Client:
        session = requests.Session()
        session.verify = ca_file
        sessions.append(session)
        return zeep.Client(server.wsdl_url, transport=Transport(session=session), **kwargs)

    yield make
    for session in sessions:
        session.close()


def post(session: requests.Session, server: LedgerServer, body: str) -> requests.Response:
    return session.post(server.url, data=body.encode(), headers={"Content-Type": "text/xml"})


# --- the WSDL files ---------------------------------------------------------


@pytest.mark.parametrize("name", ["ledger.wsdl", "ledger-soap12.wsdl", "ledger-imported.wsdl"])
def test_every_wsdl_loads_in_zeep_with_all_operations(name: str) -> None:
    client = zeep.Client(str(WSDL_DIR / name))
    operations = client.service._binding._operations
    assert sorted(operations) == ["GetBalance", "GetStatement", "Reject", "Transfer"]
    assert client.get_element("{urn:soapguard:ledger}GetStatementResponse") is not None


def test_inline_schema_is_identical_to_the_shared_xsd() -> None:
    def canonical(schema: etree._Element) -> bytes:
        return etree.tostring(schema, method="c14n", exclusive=True, with_comments=False)

    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True)
    inline = etree.parse(str(WSDL_DIR / "ledger.wsdl"), parser).find(f".//{XSD}schema")
    shared = etree.parse(str(WSDL_DIR / "ledger-types.xsd"), parser).getroot()
    assert inline is not None
    assert canonical(inline) == canonical(shared)


def test_wsdl_dir_prefers_the_packaged_copy_and_falls_back_to_the_source(tmp_path: Path) -> None:
    packaged, source = tmp_path / "pkg", tmp_path / "src"
    source.mkdir()
    (source / "ledger.wsdl").write_text("<x/>")
    assert wsdl_dir(packaged, source) == source
    packaged.mkdir()
    assert wsdl_dir(packaged, source) == source  # a packaged dir without the WSDL is ignored
    (packaged / "ledger.wsdl").write_text("<x/>")
    assert wsdl_dir(packaged, source) == packaged
    with pytest.raises(FileNotFoundError):
        wsdl_dir(tmp_path / "none", tmp_path / "neither")


def test_default_wsdl_dir_has_the_canonical_files() -> None:
    found = wsdl_dir()
    for name in ("ledger.wsdl", "ledger-soap12.wsdl", "ledger-imported.wsdl", "ledger-types.xsd"):
        assert (found / name).read_bytes() == (WSDL_DIR / name).read_bytes()


# --- serving the WSDL -------------------------------------------------------


def test_served_wsdl_points_at_the_server(ledger: LedgerServer, session: requests.Session) -> None:
    assert ledger.url == f"https://localhost:{ledger.port}/ledger"
    response = session.get(ledger.wsdl_url)
    assert response.status_code == 200
    locations = [a.get("location") for a in etree.fromstring(response.content).iter(SOAP11_ADDRESS)]
    assert locations == [ledger.url]
    assert session.get(ledger.url.replace("/ledger", "/ledger-types.xsd")).status_code == 200
    assert session.get(ledger.url.replace("/ledger", "/nope.wsdl")).status_code == 404
    assert session.get(ledger.url).status_code == 404  # no ?wsdl


@pytest.mark.parametrize("soap12", [False, True])
def test_zeep_round_trip_for_every_operation(
    make_ledger: Callable[..., LedgerServer], client_for: Clients, soap12: bool
) -> None:
    server = make_ledger(soap12=soap12)
    client = client_for(server)
    balance = client.service.GetBalance(account="42", requestId="b-1")
    assert (balance.account, balance.balance, balance.currency) == ("42", balance_of("42"), "EUR")
    statement = client.service.GetStatement(account="42", lines=5)
    assert len(statement.entry) == 5
    assert [e.date for e in statement.entry[:2]] == [datetime.date(2024, 1, d) for d in (1, 2)]
    assert all(isinstance(e.amount, Decimal) for e in statement.entry)
    first = client.service.Transfer(fromAccount="a", toAccount="b", amount=Decimal("1.5"))
    second = client.service.Transfer(fromAccount="a", toAccount="b", amount=Decimal("1.5"))
    assert first.status == second.status == "BOOKED"
    assert first.transferId != second.transferId
    with pytest.raises(zeep.exceptions.Fault) as fault:
        client.service.Reject(reason="not today")
    assert fault.value.message == "not today"
    assert fault.value.code == ("soap:Sender" if soap12 else "soap:Client")
    assert server.executions_total() == 5
    assert server.executions_total("Transfer") == 2
    assert server.executions("b-1") == 1


def test_imported_schema_wsdl_is_served_with_its_xsd(
    ledger: LedgerServer, session: requests.Session
) -> None:
    url = ledger.url.replace("/ledger", "/ledger-imported.wsdl")
    client = zeep.Client(url, transport=Transport(session=session))
    assert client.service.GetBalance(account="9").balance == balance_of("9")


def test_large_statement(ledger: LedgerServer, client_for: Clients) -> None:
    client = client_for(ledger)
    with client.settings(raw_response=True):
        raw = client.service.GetStatement(account="42", lines=3000)
    assert raw.status_code == 200
    assert 300_000 < len(raw.content) < 1_000_000
    assert raw.headers["Content-Length"] == str(len(raw.content))
    assert len(client.service.GetStatement(account="42", lines=3000).entry) == 3000


# --- counting and fault injection -----------------------------------------


def test_executions_count_per_request_id(ledger: LedgerServer, client_for: Clients) -> None:
    client = client_for(ledger)
    for _ in range(2):
        client.service.Transfer(fromAccount="a", toAccount="b", amount=1, requestId="t-1")
    client.service.GetBalance(account="a", requestId="g-1")
    assert (ledger.executions("t-1"), ledger.executions("g-1"), ledger.executions("x")) == (2, 1, 0)
    assert ledger.requests_seen == 3


TOO_MANY = f"<l:lines>{MAX_STATEMENT_LINES + 1}</l:lines>"
ACCOUNTS = "<l:fromAccount>a</l:fromAccount><l:toAccount>b</l:toAccount>"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("this is not xml", "not well-formed"),
        ("<a/>", "not a SOAP"),
        (ENVELOPE.format("<l:Unknown/>"), "unknown operation"),
        (ENVELOPE.format("<l:GetStatement><l:account>1</l:account></l:GetStatement>"), "lines"),
        (ENVELOPE.format(f"<l:GetStatement><l:account>1</l:account>{TOO_MANY}</l:GetStatement>"),
         "between"),
        (ENVELOPE.format(f"<l:Transfer>{ACCOUNTS}<l:amount>-1</l:amount></l:Transfer>"),
         "positive"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_client_fault(
    ledger: LedgerServer, session: requests.Session, body: str, reason: str
) -> None:
    response = post(session, ledger, body)
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/xml")
    fault = etree.fromstring(response.content).find(".//faultcode/..")
    assert fault is not None
    assert fault.findtext("faultcode") == "soap:Client"
    assert reason in (fault.findtext("faultstring") or "")


def test_unknown_operation_is_not_counted(ledger: LedgerServer, session: requests.Session) -> None:
    post(session, ledger, ENVELOPE.format("<l:Unknown><l:requestId>u</l:requestId></l:Unknown>"))
    post(session, ledger, "garbage")
    assert (ledger.executions_total(), ledger.executions("u"), ledger.requests_seen) == (0, 0, 2)


def test_fail_next_answers_without_executing(ledger: LedgerServer, client_for: Clients) -> None:
    client = client_for(ledger)
    ledger.fail_next(503, times=2, retry_after=1.5)
    with client.settings(raw_response=True):
        answers = [client.service.GetBalance(account="1", requestId="f") for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].text == "Service Unavailable"
    assert answers[0].headers["Content-Type"].startswith("text/plain")
    assert answers[0].headers["Retry-After"] == "1.5"
    assert "Retry-After" not in answers[2].headers
    assert (ledger.executions("f"), ledger.requests_seen) == (1, 3)


def test_fail_next_rejects_nonsense(ledger: LedgerServer) -> None:
    with pytest.raises(ValueError, match="status"):
        ledger.fail_next(42)
    with pytest.raises(ValueError, match="times"):
        ledger.fail_next(503, times=0)


def test_nonces_are_recorded_in_order_even_for_failed_posts(
    ledger: LedgerServer, client_for: Clients
) -> None:
    client = client_for(ledger, wsse=UsernameToken("user", "secret", use_digest=True))
    ledger.fail_next(502)
    with pytest.raises(zeep.exceptions.TransportError):
        client.service.GetBalance(account="1")
    client.service.GetBalance(account="1")
    nonces = ledger.nonces
    assert len(nonces) == 2
    assert len(set(nonces)) == 2
    assert all(nonces)


def test_parallel_calls_are_all_counted(ledger: LedgerServer, client_for: Clients) -> None:
    clients = [client_for(ledger) for _ in range(4)]

    def work(index: int) -> None:
        for n in range(10):
            clients[index].service.GetBalance(account="p", requestId=f"{index}-{n}")

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert ledger.executions_total("GetBalance") == 40
    assert ledger.requests_seen == 40
    assert all(ledger.executions(f"{i}-{n}") == 1 for i in range(4) for n in range(10))


# --- HTTP behaviour ---------------------------------------------------------


def test_keep_alive_reuses_one_connection(ledger: LedgerServer, client_for: Clients) -> None:
    client = client_for(ledger)
    for _ in range(3):
        client.service.GetBalance(account="k")
    assert ledger.connections_seen == 1  # the WSDL GET and three POSTs


def test_incomplete_body_is_neither_executed_nor_answered(
    make_ledger: Callable[..., LedgerServer],
) -> None:
    server = make_ledger(tls=False)
    body = ENVELOPE.format("<l:GetBalance><l:account>1</l:account></l:GetBalance>").encode()
    head = f"POST /ledger HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(head + body)  # control: a whole request is answered and executed
        assert raw.recv(12) == b"HTTP/1.1 200"
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(head + body[:-10])
        raw.shutdown(socket.SHUT_WR)
        assert raw.recv(100) == b""  # the server closed without an answer
    assert (server.executions_total(), server.requests_seen) == (1, 1)


def test_plain_http_and_chunked_refusal(make_ledger: Callable[..., LedgerServer]) -> None:
    server = make_ledger(tls=False)
    assert server.url.startswith("http://localhost:")
    chunks = iter([b"<a/>"])
    response = requests.post(server.url, data=chunks)
    assert response.status_code == 411
    assert requests.post(server.url.replace("ledger", "other"), data=b"x").status_code == 404
    assert server.requests_seen == 0


def test_stop_closes_idle_keep_alive_connections(ledger: LedgerServer, ca_file: str) -> None:
    context = ssl.create_default_context(cafile=ca_file)
    conn = http.client.HTTPSConnection("localhost", ledger.port, context=context)
    try:
        conn.request("GET", "/ledger?wsdl")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert conn.sock is not None  # kept alive, idle: its server thread waits in recv()
        ledger.stop()
        workers = [t for t in threading.enumerate() if t.name == f"LedgerHTTPServer:{ledger.port}"]
        assert not workers
        try:
            leftover = conn.sock.recv(1)
        except OSError:  # a reset or TLS EOF error: closed as well
            leftover = b""
        assert leftover == b""
    finally:
        conn.close()


def test_lifetime_stops_the_server(make_ledger: Callable[..., LedgerServer]) -> None:
    server = make_ledger(tls=False, lifetime=0.01)
    assert server.wait(timeout=30)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.wsdl_url)


def test_start_twice_is_an_error(ledger: LedgerServer) -> None:
    with pytest.raises(RuntimeError):
        ledger.start()


def test_tls_versions_of_variant_servers(
    make_ledger: Callable[..., LedgerServer],
    server_ssl_context: Callable[..., ssl.SSLContext],
    ca_file: str,
) -> None:
    tls12 = make_ledger(ssl_context=server_ssl_context(max_version=ssl.TLSVersion.TLSv1_2))
    tls13 = make_ledger(ssl_context=server_ssl_context(min_version=ssl.TLSVersion.TLSv1_3))
    context = ssl.create_default_context(cafile=ca_file)
    for server, expected in ((tls12, "TLSv1.2"), (tls13, "TLSv1.3")):
        with (
            socket.create_connection(("127.0.0.1", server.port)) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.version() == expected
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", tls13.port)) as raw,
        pytest.raises(ssl.SSLError),
    ):
        context.wrap_socket(raw, server_hostname="localhost")


# --- the PUBLIC demo certificate --------------------------------------------


def test_demo_certificate_is_valid_for_decades_and_works() -> None:
    leaf = x509.load_pem_x509_certificate(Path(ledger_module.DEMO_CERT_FILE).read_bytes())
    # not_valid_after_utc from cryptography 42; 41 (the declared floor) has the naive one
    expires = getattr(leaf, "not_valid_after_utc", None) or leaf.not_valid_after
    assert expires.year >= 2075
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    with LedgerServer.demo() as server, requests.Session() as session:
        session.verify = DEMO_CA_FILE
        client = zeep.Client(server.wsdl_url, transport=Transport(session=session))
        assert client.service.GetBalance(account="d").currency == "EUR"
