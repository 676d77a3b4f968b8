"""A server's error body cannot make a call hold the GIL: redaction work is bounded.

zeep puts a whole invalid body into ``TransportError``'s message (as ``%r``),
and soapguard redacts that message, the failure's and the payload log.  Real
HTTP 500s from the ledger server on 127.0.0.1; the timeouts are generous guards
(these calls take well under a second; the redaction they replace took minutes).
"""

from __future__ import annotations

import logging

import pytest
import zeep.exceptions

import soapguard
from soapguard import Config
from soapguard.testing.ledger import LedgerServer


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "body",
    [b"a." * 200_000, b"<password>" * 40_000, b"QUJD" * 100_000 + b" " + b"<a>" * 50_000],
    ids=["dotted-400kB", "unclosed-tags-400kB", "base64-and-nesting"],
)
def test_a_huge_hostile_500_body_fails_promptly_with_a_bounded_message(
    ledger: LedgerServer, ca_file: str, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    caplog.set_level(logging.DEBUG, logger="soapguard")
    config = Config(ca_bundle=ca_file, max_attempts=1, log_payloads=True)
    client = soapguard.Client(ledger.wsdl_url, config=config)
    ledger.fail_next(500, body=body)
    with pytest.raises(zeep.exceptions.TransportError) as info:
        client.service.GetBalance(account="1")
    exc = info.value
    assert exc.status_code == 500
    assert exc.content == body  # the body itself stays available, as zeep gives it
    assert len(exc.message) < 5000
    assert len(repr(exc)) < 6000
    assert "more characters]" in exc.message
    assert all(len(r.getMessage()) < 20_000 for r in caplog.records)
