"""One CA order for every client: the pure resolver, then the order on real loopback TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trustme

import soapguard
from soapguard import tls
from soapguard.config import Config
from soapguard.testing.ledger import LedgerServer
from soapguard.tls.trust import SessionTrust, Trust, resolve_trust

ALL_ENV = {
    "REQUESTS_CA_BUNDLE": "/env/requests.pem",
    "CURL_CA_BUNDLE": "/env/curl.pem",
    "SSL_CERT_FILE": "/env/ssl.pem",
}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    tls.clear_cache()
    yield
    tls.clear_cache()


@pytest.fixture
def stranger(tmp_path: Path) -> str:
    """A CA file that does not trust the test servers."""
    path = tmp_path / "stranger-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def config_with_ca(path: str, *, from_env: bool) -> Config:
    if from_env:
        return Config.from_env({"SOAPGUARD_CA_BUNDLE": path})
    return Config(ca_bundle=path)


# -- the resolver --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "session_verify", "env", "expected"),
    [
        (Config(), None, {}, Trust("system store", None, True)),
        (Config(), True, {}, Trust("system store", None, True)),
        (
            Config(),
            None,
            ALL_ENV,
            Trust("REQUESTS_CA_BUNDLE", "/env/requests.pem", "/env/requests.pem"),
        ),
        (
            Config(),
            None,
            {**ALL_ENV, "REQUESTS_CA_BUNDLE": " "},
            Trust("CURL_CA_BUNDLE", "/env/curl.pem", "/env/curl.pem"),
        ),
        (
            Config(),
            None,
            {"SSL_CERT_FILE": "/env/ssl.pem"},
            Trust("SSL_CERT_FILE", "/env/ssl.pem", "/env/ssl.pem"),
        ),
        (
            Config(),
            "/code/ca.pem",
            ALL_ENV,
            Trust("session.verify", "/code/ca.pem", "/code/ca.pem"),
        ),
        (Config(trust_env=False), None, ALL_ENV, Trust("system store", None, True)),
        (Config(), False, ALL_ENV, Trust("session.verify", None, False)),
    ],
)
def test_resolution_order(
    config: Config, session_verify: bool | str | None, env: dict[str, str], expected: Trust
) -> None:
    assert resolve_trust(config, session_verify, env) == expected


def test_configured_ca_bundle_wins_and_says_where_it_came_from(ca_file: str) -> None:
    in_code = resolve_trust(Config(ca_bundle=ca_file), "/code/ca.pem", ALL_ENV)
    assert in_code == Trust("Config.ca_bundle", ca_file, True)
    from_env = resolve_trust(config_with_ca(ca_file, from_env=True), "/code/ca.pem", ALL_ENV)
    assert from_env == Trust("SOAPGUARD_CA_BUNDLE", ca_file, True)
    assert from_env.path_is_secret
    override = Config.from_env({"SOAPGUARD_CA_BUNDLE": "/nonexistent"}, ca_bundle=ca_file)
    assert resolve_trust(override, None, {}).source == "Config.ca_bundle"


def test_verification_off_in_code_wins_over_everything(ca_file: str) -> None:
    trust = resolve_trust(Config(ca_bundle=ca_file), False, ALL_ENV)
    assert trust.verify is False


def test_environment_is_read_once(ca_file: str, stranger: str) -> None:
    env = {"REQUESTS_CA_BUNDLE": ca_file}
    session_trust = SessionTrust(Config(), None, env)
    env["REQUESTS_CA_BUNDLE"] = stranger
    assert session_trust.current(True)[0].path == ca_file


# -- on the wire ---------------------------------------------------------------------------


def balance(ledger: LedgerServer, transport: soapguard.Transport) -> str:
    client = soapguard.Client(ledger.wsdl_url, transport=transport)
    return str(client.service.GetBalance(account="7").account)


def test_requests_lets_requests_ca_bundle_replace_a_session_path(
    ledger: LedgerServer, ca_file: str, stranger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The behaviour soapguard departs from (a control for the next test)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", stranger)
    session = requests.Session()
    session.verify = ca_file
    with pytest.raises(requests.exceptions.SSLError):
        session.get(ledger.wsdl_url, timeout=10)


def test_a_session_path_set_in_code_beats_requests_ca_bundle(
    ledger: LedgerServer, ca_file: str, stranger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", stranger)
    monkeypatch.setenv("CURL_CA_BUNDLE", stranger)
    session = requests.Session()  # trust_env stays on: requests would inject the variable
    session.verify = ca_file
    assert balance(ledger, soapguard.Transport(session=session, config=Config())) == "7"


@pytest.mark.parametrize("from_env", [True, False])
def test_soapguard_ca_beats_a_session_path(
    ledger: LedgerServer, ca_file: str, stranger: str, from_env: bool
) -> None:
    session = requests.Session()
    session.verify = ca_file
    config = config_with_ca(stranger, from_env=from_env)
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        balance(ledger, soapguard.Transport(session=session, config=config))


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_other_tools_variables_are_honoured(
    ledger: LedgerServer, ca_file: str, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, ca_file)
    assert balance(ledger, soapguard.Transport(config=Config())) == "7"


def test_requests_ca_bundle_beats_ssl_cert_file(
    ledger: LedgerServer, ca_file: str, stranger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", stranger)
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    with pytest.raises(requests.exceptions.SSLError):
        balance(ledger, soapguard.Transport(config=Config()))


def test_trust_env_off_ignores_the_variables(
    ledger: LedgerServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    with pytest.raises(requests.exceptions.SSLError):
        balance(ledger, soapguard.Transport(config=Config(trust_env=False)))


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_on_a_session_is_not_undone_by_requests_ca_bundle(
    ledger: LedgerServer, stranger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", stranger)
    session = requests.Session()
    session.verify = False
    assert balance(ledger, soapguard.Transport(session=session, config=Config())) == "7"


def test_a_session_path_set_after_the_transport_is_built(
    ledger: LedgerServer, ca_file: str
) -> None:
    transport = soapguard.Transport(config=Config())
    transport.session.verify = ca_file
    assert balance(ledger, transport) == "7"


def test_a_bad_session_path_set_later_is_a_config_error_not_a_network_failure(
    ledger: LedgerServer, ca_file: str
) -> None:
    transport = soapguard.Transport(config=Config(max_attempts=3))
    transport.session.verify = ca_file
    client = soapguard.Client(ledger.wsdl_url, transport=transport)
    transport.session.verify = "/nonexistent/ca.pem"
    with pytest.raises(soapguard.ConfigError) as info:
        client.service.GetBalance(account="7")
    assert info.value.problems == [("session.verify", "'/nonexistent/ca.pem' does not exist")]
