"""Client certificates, pinned keys and expiry warnings, against real loopback TLS servers.

The ledger server here requires a client certificate issued by the session CA
(trustme) and records the subjects it saw; a FaultProxy in front shows what
reached the wire.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import ssl
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

import soapguard
from faulty import BINDING
from identities import ClientIdentity, rc2_p12
from soapguard import Config, tls
from soapguard.diagnostics import expiry
from soapguard.testing import FaultProxy
from soapguard.testing.ledger import LedgerServer, wsdl_dir
from soapguard.testing.ledger.http import server_context
from soapguard.tls import _memfile
from soapguard.tls.x509 import first_pem_certificate, spki_pin

WSDL = str(wsdl_dir() / "ledger.wsdl")
SCAN_LIMIT = 20_000


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    tls.clear_cache()
    expiry.watch.forget()
    yield
    tls.clear_cache()


@pytest.fixture
def mtls_ledger(make_ledger: Callable[..., LedgerServer], ca_file: str) -> LedgerServer:
    """A ledger server that refuses clients without a certificate from the session CA."""
    return make_ledger(client_ca=ca_file)


def mtls_config(ca_file: str, **fields: Any) -> Config:
    return Config(ca_bundle=ca_file, max_attempts=1, **fields)


def call_balance(server: LedgerServer, config: Config) -> Any:
    client = soapguard.Client(WSDL, config=config)
    return client.create_service(BINDING, f"https://127.0.0.1:{server.port}/ledger").GetBalance(
        account="42"
    )


def test_the_server_refuses_a_client_without_a_certificate(
    mtls_ledger: LedgerServer, ca_file: str
) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        call_balance(mtls_ledger, mtls_config(ca_file))
    assert mtls_ledger.client_subjects == []


@pytest.mark.parametrize("kind", ["p12", "p12_3des", "p12_rc2"])
def test_a_password_protected_pkcs12_file_reaches_the_server(
    mtls_ledger: LedgerServer,
    ca_file: str,
    client_identity: ClientIdentity,
    tmp_path: Path,
    kind: str,
) -> None:
    if kind == "p12_rc2":
        path = rc2_p12(client_identity, tmp_path)
    else:
        path = getattr(client_identity, kind)
    if path is None:
        pytest.skip("the openssl command line cannot write an RC2 (-legacy) PKCS#12 file here")
    config = mtls_config(ca_file, client_cert=path, client_key_password=client_identity.password)
    assert call_balance(mtls_ledger, config).account == "42"
    assert mtls_ledger.client_subjects[-1]["commonName"] == client_identity.common_name


def test_an_encrypted_pem_key_reaches_the_server(
    mtls_ledger: LedgerServer, ca_file: str, client_identity: ClientIdentity
) -> None:
    config = mtls_config(
        ca_file,
        client_cert=client_identity.cert,
        client_key=client_identity.encrypted_key,
        client_key_password=client_identity.password,
    )
    assert call_balance(mtls_ledger, config).account == "42"
    assert mtls_ledger.client_subjects[-1]["commonName"] == client_identity.common_name


def test_pkcs12_through_a_pipe_where_there_is_no_memfd(
    mtls_ledger: LedgerServer,
    ca_file: str,
    client_identity: ClientIdentity,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not os.path.isdir("/dev/fd"):
        pytest.skip("no /dev/fd")
    monkeypatch.setattr(_memfile, "method", lambda: "pipe")
    config = mtls_config(
        ca_file, client_cert=client_identity.p12, client_key_password=client_identity.password
    )
    assert call_balance(mtls_ledger, config).account == "42"
    assert mtls_ledger.client_subjects[-1]["commonName"] == client_identity.common_name


# -- no key material on disk -----------------------------------------------------------------


class WriteAudit:
    """Python-level opens for writing under the watched directories, while armed."""

    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = roots
        self.armed = False
        self.writes: list[str] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.armed or event != "open" or not args:
            return
        path, mode, flags = [*args, None, None][:3]
        if not isinstance(path, str | bytes) or isinstance(path, int):
            return
        text = os.fsdecode(path)
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if writing and any(os.path.realpath(text).startswith(root) for root in self.roots):
            self.writes.append(text)


_WATCHED = tuple(
    os.path.realpath(p) for p in (tempfile.gettempdir(), "/dev/shm") if os.path.isdir(p)
)
_AUDIT = WriteAudit(_WATCHED)
sys.addaudithook(_AUDIT)  # audit hooks cannot be removed: it stays inert unless armed


def files_under(roots: tuple[str, ...]) -> dict[str, float]:
    found: dict[str, float] = {}
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                path = os.path.join(directory, name)
                try:
                    found[path] = os.stat(path).st_mtime
                except OSError:
                    continue
                if len(found) > SCAN_LIMIT:
                    return found
    return found


@pytest.mark.parametrize("form", ["p12", "encrypted_pem"])
def test_no_file_with_key_material_appears_while_building_and_calling(
    mtls_ledger: LedgerServer,
    ca_file: str,
    client_identity: ClientIdentity,
    monkeypatch: pytest.MonkeyPatch,
    form: str,
) -> None:
    if form == "p12":
        fields = {"client_cert": client_identity.p12}
    else:
        fields = {"client_cert": client_identity.cert, "client_key": client_identity.encrypted_key}
    handed_to_openssl: list[bytes] = []
    original = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        for path in (certfile, keyfile):
            if isinstance(path, str) and path.startswith("/proc/self/fd/"):
                with open(path, "rb") as file:  # a memfd: reading it does not consume it
                    handed_to_openssl.append(file.read())
        original(self, certfile, keyfile, password)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    before = files_under(_WATCHED)
    _AUDIT.writes.clear()
    _AUDIT.armed = True
    try:
        config = mtls_config(ca_file, client_key_password=client_identity.password, **fields)
        call_balance(mtls_ledger, config)
        call_balance(mtls_ledger, config)
    finally:
        _AUDIT.armed = False
    assert mtls_ledger.client_subjects  # the key really was used
    assert _AUDIT.writes == []
    new = {p for p, mtime in files_under(_WATCHED).items() if before.get(p) != mtime}
    for path in new:  # other processes share /tmp: only a file holding *this* key is ours
        try:
            data = Path(path).read_bytes()[: 1 << 20]
        except OSError:
            continue
        assert not client_identity.leaks_in(data), f"key material written to {path}"
    if form == "p12" and _memfile.method() == "memfd":
        assert handed_to_openssl, "the PKCS#12 key did not go through a memfd"
        for data in handed_to_openssl:
            assert not client_identity.leaks_in(data)  # only ever encrypted in the memfd
        assert any(b"ENCRYPTED PRIVATE KEY" in data for data in handed_to_openssl)


# -- pins ------------------------------------------------------------------------------------


def pin_of(pem_file: str) -> str:
    der = first_pem_certificate(Path(pem_file).read_bytes())
    assert der is not None
    return spki_pin(der)


def wrong_pin() -> str:
    return "sha256/" + base64.b64encode(hashlib.sha256(b"not the server's key").digest()).decode()


@pytest.fixture
def proxied(ledger: LedgerServer) -> Iterator[tuple[LedgerServer, FaultProxy]]:
    with FaultProxy(upstream=("127.0.0.1", ledger.port), lifetime=120) as proxy:
        yield ledger, proxy


def call_through(proxy: FaultProxy, config: Config) -> Any:
    client = soapguard.Client(WSDL, config=config)
    service = client.create_service(BINDING, f"https://127.0.0.1:{proxy.port}/ledger")
    return service.GetBalance(account="42")


@pytest.mark.parametrize("which", ["server", "ca"])
def test_the_right_pin_lets_the_call_through(
    proxied: tuple[LedgerServer, FaultProxy], ca_file: str, cert_files: tuple[str, str], which: str
) -> None:
    _, proxy = proxied
    pin = pin_of(cert_files[0] if which == "server" else ca_file)
    config = Config(ca_bundle=ca_file, pinned_keys=(wrong_pin(), pin))
    assert call_through(proxy, config).account == "42"
    assert proxy.stats().requests == 1


def test_a_wrong_pin_fails_before_any_request_byte_and_is_not_retried(
    proxied: tuple[LedgerServer, FaultProxy], ca_file: str, cert_files: tuple[str, str]
) -> None:
    ledger, proxy = proxied
    events: list[dict[str, Any]] = []
    config = Config(
        ca_bundle=ca_file,
        pinned_keys=(wrong_pin(),),
        idempotent_operations=("GetBalance",),
        on_event=events.append,
    )
    with pytest.raises(requests.exceptions.SSLError) as info:
        call_through(proxy, config)
    report = info.value.report  # type: ignore[attr-defined]
    presented = pin_of(cert_files[0])
    assert report["error.type"] == "tls.pin_mismatch"
    assert len(report["attempts"]) == 1
    assert report["request_sent"] == "none"
    assert report["phase"] == "handshake"
    assert report["decision_reason"] == "non_retryable"
    assert report["tls.server.pins"][0] == presented
    assert presented in report["hint"]
    assert "SOAPGUARD_PINNED_KEYS" in report["hint"]
    assert presented in str(info.value)
    stats = proxy.stats()
    assert stats.connections == 1
    assert stats.requests == 0
    assert stats.app_data_sizes("c2s") == []  # not one byte of the request left
    assert ledger.requests_seen == 0
    assert [e["event"] for e in events] == ["soapguard.attempt_failed", "soapguard.call_failed"]


def test_pins_are_checked_through_an_https_proxy_tunnel(
    ledger: LedgerServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers.connect_proxy import ConnectProxy

    with ConnectProxy() as tunnel:
        monkeypatch.setenv("HTTPS_PROXY", tunnel.url)
        client = soapguard.Client(
            WSDL, config=Config(ca_bundle=ca_file, pinned_keys=(wrong_pin(),))
        )
        service = client.create_service(BINDING, f"https://127.0.0.1:{ledger.port}/ledger")
        with pytest.raises(requests.exceptions.SSLError) as info:
            service.GetBalance(account="42")
        assert tunnel.tunnels == [f"127.0.0.1:{ledger.port}"]
    assert info.value.report["error.type"] == "tls.pin_mismatch"  # type: ignore[attr-defined]
    assert ledger.requests_seen == 0


def test_pins_never_replace_verification(
    proxied: tuple[LedgerServer, FaultProxy], ca_file: str, cert_files: tuple[str, str]
) -> None:
    _, proxy = proxied
    client = soapguard.Client(WSDL, config=Config(pinned_keys=(pin_of(cert_files[0]),)))
    client.transport.session.verify = False  # code only; the right pin is no substitute
    service = client.create_service(BINDING, f"https://127.0.0.1:{proxy.port}/ledger")
    with pytest.raises(requests.exceptions.SSLError) as info:
        service.GetBalance(account="42")
    report = info.value.report  # type: ignore[attr-defined]
    assert report["error.type"] == "tls.pin_mismatch"
    assert "verification" in report["hint"]
    assert proxy.stats().requests == 0


# -- expiry warnings -------------------------------------------------------------------------


def expiring_server(
    ca: trustme.CA, make_ledger: Callable[..., LedgerServer], tmp_path: Path, days: float
) -> LedgerServer:
    not_after = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    leaf = ca.issue_cert("localhost", "127.0.0.1", not_after=not_after.replace(tzinfo=None))
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    return make_ledger(ssl_context=server_context(str(chain), str(key)))


def certificate_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "soapguard.certificate_expiring"]


def test_a_server_certificate_expiring_in_ten_days_is_reported_once(
    ca: trustme.CA,
    ca_file: str,
    make_ledger: Callable[..., LedgerServer],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = expiring_server(ca, make_ledger, tmp_path, days=10)
    events: list[dict[str, Any]] = []
    config = Config(ca_bundle=ca_file, on_event=events.append)
    # the WSDL comes from the server: the call reuses the connection that downloaded it
    client = soapguard.Client(server.wsdl_url, config=config)
    with caplog.at_level("WARNING", logger="soapguard.diagnostics"):
        client.service.GetBalance(account="42")
    assert server.connections_seen == 1
    [event] = certificate_events(events)
    assert event["tls.certificate.role"] == "server"
    assert 9 <= event["days_left"] <= 10
    assert event["server.address"] == "localhost"
    assert event["server.port"] == server.port
    assert "Testing cert" in (event["tls.certificate.subject"] or "")
    assert any(getattr(r, "soapguard", None) == event for r in caplog.records)
    client.service.GetBalance(account="42")  # the same connection: not looked at again
    # another client, another new connection, the same certificate: not again today
    call_balance(server, config)
    assert server.connections_seen == 2
    assert len(certificate_events(events)) == 1


def test_a_certificate_far_from_expiry_is_not_reported(ledger: LedgerServer, ca_file: str) -> None:
    events: list[dict[str, Any]] = []
    call_balance(ledger, Config(ca_bundle=ca_file, on_event=events.append))
    assert certificate_events(events) == []


def test_a_client_certificate_expiring_soon_is_reported(
    ca: trustme.CA,
    ca_file: str,
    mtls_ledger: LedgerServer,
    tmp_path: Path,
) -> None:
    from identities import make_identity

    soon = datetime.datetime.now() + datetime.timedelta(days=5)
    identity = make_identity(ca, tmp_path / "soon", password="Soon-Pa55-8812", not_after=soon)
    events: list[dict[str, Any]] = []
    config = mtls_config(
        ca_file,
        client_cert=identity.p12,
        client_key_password=identity.password,
        on_event=events.append,
    )
    call_balance(mtls_ledger, config)
    [event] = certificate_events(events)
    assert event["tls.certificate.role"] == "client"
    assert 4 <= event["days_left"] <= 5
    assert "SOAPGUARD_CLIENT_CERT" in event["hint"]


def test_the_ledger_requires_its_own_context_for_mutual_tls(
    ca_file: str, cert_files: tuple[str, str]
) -> None:
    with pytest.raises(ValueError, match="client_ca"):
        LedgerServer(ssl_context=server_context(*cert_files), client_ca=ca_file)
    with pytest.raises(ValueError, match="client_ca"):
        LedgerServer(client_ca=ca_file)  # plain HTTP cannot ask for a certificate
