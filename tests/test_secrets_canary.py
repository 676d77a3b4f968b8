"""Issue 6 canary: secrets appear nowhere -- logs at DEBUG, the JSON file, exceptions, reports."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from zeep.wsse.username import UsernameToken

import soapguard
from faulty import BINDING
from soapguard import Config
from soapguard.testing import Fault, FaultProxy
from soapguard.testing.ledger import LedgerServer

PASSWORD = "Canary-Pa55word-7731"
BEARER = "Canary-Bearer-Token-4419"
ACCOUNT = "Canary-Account-0042"
URL_PASSWORD = "Canary-UrlPass-5512"
QUERY_TOKEN = "Canary-Query-Token-9083"
SECRETS = (PASSWORD, BEARER, ACCOUNT, URL_PASSWORD, QUERY_TOKEN)


class Everything(logging.Handler):
    """Keeps every record and renders it the way a JSON formatter would (message + extras)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.rendered: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
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


def test_zeep_debug_logging_is_redacted_while_soapguard_is_in_use(
    capture_everything: Everything, ledger: LedgerServer, ca_file: str
) -> None:
    import zeep

    soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=ca_file))  # installs the filter
    session = requests.Session()
    session.verify = ca_file
    plain = zeep.Client(
        ledger.wsdl_url,
        wsse=UsernameToken("bob", PASSWORD),
        transport=zeep.Transport(session=session),
    )
    plain.service.GetBalance(account="1")
    assert any("Envelope" in r for r in capture_everything.rendered)
    for rendered in capture_everything.rendered:
        assert PASSWORD not in rendered
