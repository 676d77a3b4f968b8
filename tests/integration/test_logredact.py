"""The log filter touches only records emitted inside soapguard calls, and can be removed.

Real servers on 127.0.0.1 (the ledger, the echo server); plain ``zeep.Client``
calls in the same process are compared with and without the filter installed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import zeep
from zeep.plugins import Plugin
from zeep.wsse.username import UsernameToken

import soapguard
from faulty import BINDING
from servers.echo import EchoServer
from soapguard import Config
from soapguard.diagnostics.logs import LOGGERS, RedactingFilter
from soapguard.testing.ledger import LedgerServer
from soapguard.testing.ledger.http import server_context

PASSWORD = "Plain-Zeep-Pa55word-1"
_ADDRESS = re.compile(r" at 0x[0-9a-f]+|\b[0-9]{12,}\b")  # ids and addresses
COOKIE = "Plain-Zeep-Cookie-77"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        soapguard.install_log_redaction()  # as the other tests' clients left it


@pytest.fixture
def echo(cert_files: tuple[str, str]) -> Iterator[EchoServer]:
    with EchoServer(server_context(*cert_files), mode="bad-headers") as server:
        yield server


def ours(log: logging.Logger) -> list[logging.Filter]:
    return [f for f in log.filters if isinstance(f, RedactingFilter)]


def plain_zeep_calls(ledger: LedgerServer, echo: EchoServer, ca_file: str) -> None:
    """A plain zeep client: a call to the ledger, and one that makes urllib3 warn with exc_info."""
    session = requests.Session()
    session.verify = ca_file
    session.headers["Cookie"] = f"session={COOKIE}"
    client = zeep.Client(
        ledger.wsdl_url,
        wsse=UsernameToken("bob", PASSWORD),
        transport=zeep.Transport(session=session),
    )
    assert client.service.GetBalance(account="1").account == "1"
    client.create_service(BINDING, f"{echo.url}?apikey=plain-key-123").GetBalance(account="1")


def snapshot(handler: Records) -> list[tuple[Any, ...]]:
    """What a handler sees of each zeep/urllib3 record, exceptions included."""
    out = []
    for r in handler.records:
        if r.name.split(".")[0] in ("zeep", "urllib3"):
            exc = r.exc_info[1] if r.exc_info else None
            args = _ADDRESS.sub("", repr(r.args))  # object reprs differ between runs
            out.append((r.name, r.levelno, r.msg, args, repr(exc), exc is not None))
    return out


@pytest.mark.timeout(60)
def test_a_plain_zeep_client_logs_exactly_as_without_soapguard(
    records: Records, ledger: LedgerServer, echo: EchoServer, ca_file: str
) -> None:
    soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=ca_file))  # installs the filter
    assert all(ours(logging.getLogger(name)) for name in LOGGERS)
    records.records.clear()  # its own WSDL load ran in its scope: redacted, not compared
    plain_zeep_calls(ledger, echo, ca_file)
    with_filter = snapshot(records)
    records.records.clear()

    soapguard.remove_log_redaction()
    plain_zeep_calls(ledger, echo, ca_file)
    without = snapshot(records)

    assert with_filter == without
    posts = [r for r in with_filter if r[2] == "HTTP Post to %s:\n%s"]
    assert posts
    assert PASSWORD in posts[0][3]  # zeep's own record, args and all, as zeep made it
    warned = [r for r in with_filter if r[0] == "urllib3.connection"]
    assert warned
    assert warned[0][5]  # exc_info kept
    assert COOKIE in warned[0][4]  # and the exception's message unchanged


class LogsSecrets(Plugin):  # type: ignore[misc]
    """Logs on a zeep logger inside the call, with an exception attached."""

    def __init__(self, *texts: str) -> None:
        self.texts = texts

    def egress(self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any) -> Any:
        log = logging.getLogger("zeep.transports")
        try:
            raise ValueError(" and ".join(self.texts))
        except ValueError:
            log.warning("sending %s", " / ".join(self.texts), exc_info=True)
        return envelope, http_headers


def test_records_inside_a_call_are_redacted_with_that_clients_secrets_only(
    records: Records, ledger: LedgerServer, ca_file: str
) -> None:
    alpha, beta = "Alpha-Client-Secret-1", "Beta-Client-Secret-2"
    config = Config(ca_bundle=ca_file)
    clients = {
        secret: soapguard.Client(
            ledger.wsdl_url,
            wsse=UsernameToken("u", secret),
            plugins=[LogsSecrets(f"<{alpha}>", f"<{beta}>")],
            config=config,
        )
        for secret in (alpha, beta)
    }
    for secret, client in clients.items():
        records.records.clear()
        client.service.GetBalance(account="1")
        (record,) = [r for r in records.records if r.name == "zeep.transports"]
        masked = {s: "***" if s == secret else s for s in (alpha, beta)}
        assert record.args is None
        assert record.getMessage() == f"sending <{masked[alpha]}> / <{masked[beta]}>"
        assert record.exc_info is not None  # kept, scrubbed in place
        assert str(record.exc_info[1]) == f"<{masked[alpha]}> and <{masked[beta]}>"
        formatted = logging.Formatter().format(record)
        assert "Traceback" in formatted
        assert secret not in formatted


def test_install_is_idempotent_and_removal_restores_every_logger(
    records: Records, ledger: LedgerServer, ca_file: str
) -> None:
    user_filter = logging.Filter("zeep")
    transports = logging.getLogger("zeep.transports")
    transports.addFilter(user_filter)
    try:
        soapguard.install_log_redaction()
        soapguard.install_log_redaction()
        soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=ca_file))
        for name in LOGGERS:
            assert len(ours(logging.getLogger(name))) == 1, name

        soapguard.remove_log_redaction()
        everyone = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        assert not [log for log in everyone if isinstance(log, logging.Logger) and ours(log)]
        assert transports.filters == [user_filter]

        soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=ca_file))  # installs it again
        assert len(ours(transports)) == 1
    finally:
        transports.removeFilter(user_filter)
