"""What soapguard puts on the wire, and what it can read back.

Requests always carry ``Content-Length``, never ``Transfer-Encoding: chunked`` nor
``Expect: 100-continue`` (seen by the ledger server, which records request headers).
Chunked responses, and close-delimited ones ended without a TLS close_notify, parse.
"""

from __future__ import annotations

import http.client
import ssl
from typing import Any

import pytest

import soapguard
from faulty import BINDING
from soapguard import Config
from soapguard.testing.ledger import LedgerServer

pytestmark = pytest.mark.timeout(60)

MB = 1024 * 1024
#: GetStatement lines for a response of about 200 KB
LINES_200KB = 1200


def client_for(ledger: LedgerServer, ca_file: str) -> soapguard.Client:
    return soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=ca_file))


def header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


@pytest.mark.parametrize("size", [10, MB], ids=["small", "1MB"])
def test_requests_carry_content_length_and_no_chunked_nor_expect(
    ledger: LedgerServer, ca_file: str, size: int
) -> None:
    client = client_for(ledger, ca_file)
    account = "A" * size
    result = client.service.GetBalance(account=account)
    assert result.account == account
    seen = ledger.request_headers[-1]
    assert int(header(seen, "Content-Length") or -1) > size
    assert header(seen, "Transfer-Encoding") is None
    assert header(seen, "Expect") is None


def test_an_expect_header_set_by_the_application_is_not_sent(
    ledger: LedgerServer, ca_file: str
) -> None:
    client = client_for(ledger, ca_file)
    client.transport.session.headers["Expect"] = "100-continue"
    client.service.GetBalance(account="42")
    seen = ledger.request_headers[-1]
    assert header(seen, "Expect") is None
    assert header(seen, "Content-Length") is not None


def test_a_streamed_body_is_sent_with_its_length_not_chunked(
    ledger: LedgerServer, ca_file: str
) -> None:
    """Even a body requests would send chunked (a generator) goes out with Content-Length."""
    transport = soapguard.Transport(config=Config(ca_bundle=ca_file))
    envelope = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:l="urn:soapguard:ledger"><soap:Body><l:GetBalance><l:account>7</l:account>'
        b"</l:GetBalance></soap:Body></soap:Envelope>"
    )
    pieces = (envelope[i : i + 50] for i in range(0, len(envelope), 50))
    response = transport.session.post(
        ledger.url, data=pieces, headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    assert response.status_code == 200, response.text  # the ledger answers chunked with 411
    seen = ledger.request_headers[-1]
    assert header(seen, "Content-Length") == str(len(envelope))
    assert header(seen, "Transfer-Encoding") is None


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_chunked_and_close_delimited_200kb_responses_parse(
    ledger: LedgerServer, ca_file: str, framing: str
) -> None:
    client = client_for(ledger, ca_file)
    client.service.GetBalance(account="42")  # a pooled connection exists
    connections = ledger.connections_seen
    ledger.frame_next(framing)  # type: ignore[arg-type]
    result = client.service.GetStatement(account="42", lines=LINES_200KB)
    assert len(result.entry) == LINES_200KB
    assert result.entry[-1].description.startswith(f"Statement line {LINES_200KB:06d}")
    client.service.GetBalance(account="42")
    # a close-delimited answer ends its connection; a chunked one leaves it reusable
    assert ledger.connections_seen == connections + (1 if framing == "close" else 0)


def test_the_ledger_frames_answers_as_asked(ledger: LedgerServer, ca_file: str) -> None:
    """The server side of the test above: what the ledger really sends for each framing."""
    context = ssl.create_default_context(cafile=ca_file)
    body = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:l="urn:soapguard:ledger"><soap:Body><l:GetStatement><l:account>7</l:account>'
        b"<l:lines>1200</l:lines></l:GetStatement></soap:Body></soap:Envelope>"
    )
    seen: dict[str, Any] = {}
    for framing in ("chunked", "close", "length"):
        ledger.frame_next(framing)  # type: ignore[arg-type]
        conn = http.client.HTTPSConnection("localhost", ledger.port, context=context, timeout=10)
        conn.request("POST", "/ledger", body=body, headers={"Content-Type": "text/xml"})
        response = conn.getresponse()
        data = response.read()
        seen[framing] = (response.chunked, response.getheader("Content-Length"), len(data))
        conn.close()
    assert seen["chunked"][:2] == (True, None)
    assert seen["close"][:2] == (False, None)
    assert seen["length"][0] is False
    assert seen["length"][1] == str(seen["length"][2])
    assert seen["chunked"][2] == seen["close"][2] == seen["length"][2] > 200_000


def test_plain_zeep_over_a_soapguard_transport_reads_a_chunked_answer(
    ledger: LedgerServer, ca_file: str
) -> None:
    import zeep

    transport = soapguard.Transport(config=Config(ca_bundle=ca_file))
    client = zeep.Client(ledger.wsdl_url, transport=transport)
    service = client.create_service(BINDING, ledger.url)
    ledger.frame_next("chunked")
    result = service.GetStatement(account="42", lines=LINES_200KB)
    assert len(result.entry) == LINES_200KB
