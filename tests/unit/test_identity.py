"""Client identity without sockets: PKCS#12 and PEM loading errors, pins, expiry warnings."""

from __future__ import annotations

import builtins
import datetime
import logging
import pickle
import ssl
import traceback
from pathlib import Path
from typing import Any

import pytest
import requests.exceptions as rex
import trustme
import urllib3.exceptions as u3

import soapguard
from identities import ClientIdentity, make_identity
from soapguard import Config, tls
from soapguard.classify import classify
from soapguard.diagnostics import emit, expiry
from soapguard.diagnostics.events import attempt_event
from soapguard.retry.rules import decide
from soapguard.tls import _memfile, material
from soapguard.tls.pins import PinMismatch
from soapguard.tls.x509 import first_pem_certificate, parse
from soapguard.transport.evidence import Attempt, CallContext, ConnInfo

PASSWORD_VAR = "SOAPGUARD_CLIENT_KEY_PASSWORD"
WRONG = "Wrong-Canary-Pa55-6604"


@pytest.fixture(autouse=True)
def _fresh() -> Any:
    tls.clear_cache()
    expiry.watch.forget()
    yield
    tls.clear_cache()


def build_error(env: dict[str, str]) -> soapguard.ConfigError:
    with pytest.raises(soapguard.ConfigError) as info:
        soapguard.Transport(config=Config.from_env(env))
    return info.value


def everything_shown(error: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    return (
        str(error)
        + repr(error)
        + "".join(traceback.format_exception(error))
        + "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    )


# -- PKCS#12 and PEM material ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["p12", "p12_3des", "encrypted_key"])
def test_a_wrong_password_names_the_variable_and_is_never_shown(
    client_identity: ClientIdentity, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    env = {"SOAPGUARD_CLIENT_KEY_PASSWORD": WRONG}
    if kind == "encrypted_key":
        env |= {"SOAPGUARD_CLIENT_CERT": client_identity.cert,
                "SOAPGUARD_CLIENT_KEY": client_identity.encrypted_key}  # fmt: skip
    else:
        env["SOAPGUARD_CLIENT_CERT"] = getattr(client_identity, kind)
    with caplog.at_level(logging.DEBUG):
        error = build_error(env)
    assert [name for name, _ in error.problems] == [PASSWORD_VAR]
    assert "does not decrypt" in error.problems[0][1]
    assert error.__suppress_context__  # no library exception chained below it
    assert WRONG not in everything_shown(error, caplog)


def test_the_right_password_opens_each_pkcs12_file(client_identity: ClientIdentity) -> None:
    for path in (client_identity.p12, client_identity.p12_3des):
        config = Config(client_cert=path, client_key_password=client_identity.password)
        ctx = tls.context_for(config)
        info = material.client_certificate(ctx)
        assert info is not None
        assert f"CN={client_identity.common_name}" in (info.subject or "")


def test_an_encrypted_pkcs12_without_password_asks_for_it(client_identity: ClientIdentity) -> None:
    error = build_error({"SOAPGUARD_CLIENT_CERT": client_identity.p12})
    assert error.problems == [
        ("SOAPGUARD_CLIENT_CERT", "is an encrypted PKCS#12 file: set SOAPGUARD_CLIENT_KEY_PASSWORD")
    ]


def test_a_pkcs12_name_on_a_file_that_is_not_one(tmp_path: Path) -> None:
    junk = tmp_path / "client.p12"
    junk.write_bytes(b"\x00\x01 not a certificate at all")
    error = build_error({"SOAPGUARD_CLIENT_CERT": str(junk)})
    assert error.problems == [
        ("SOAPGUARD_CLIENT_CERT", "is neither a PEM certificate nor a PKCS#12 file")
    ]
    assert str(junk) not in str(error)  # soapguard's own paths may be sensitive


def test_a_pkcs12_whose_key_is_not_its_certificates(
    ca: trustme.CA, client_identity: ClientIdentity, tmp_path: Path
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    other = serialization.load_pem_private_key(
        ca.issue_cert("other@example.test").private_key_pem.bytes(), password=None
    )
    cert = x509.load_pem_x509_certificate(Path(client_identity.cert).read_bytes())
    data = pkcs12.serialize_key_and_certificates(  # cryptography refuses to pair them itself
        b"x", other, None, [cert], serialization.BestAvailableEncryption(b"pw-123456")
    )
    (tmp_path / "mixed.pfx").write_bytes(data)
    error = build_error(
        {"SOAPGUARD_CLIENT_CERT": str(tmp_path / "mixed.pfx"), PASSWORD_VAR: "pw-123456"}
    )
    assert error.problems == [
        ("SOAPGUARD_CLIENT_CERT", "holds no certificate matching its private key")
    ]


def test_a_pkcs12_that_does_not_pair_key_and_certificate_is_paired_by_key(
    client_identity: ClientIdentity, tmp_path: Path
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    cert = x509.load_pem_x509_certificate(Path(client_identity.cert).read_bytes())
    data = pkcs12.serialize_key_and_certificates(
        b"x", client_identity.key_object, None, [cert], serialization.NoEncryption()
    )
    (tmp_path / "unpaired.p12").write_bytes(data)
    ctx = tls.context_for(Config(client_cert=str(tmp_path / "unpaired.p12")))
    info = material.client_certificate(ctx)
    assert info is not None
    assert client_identity.common_name in (info.subject or "")


def test_a_pkcs12_with_a_separate_key_variable(client_identity: ClientIdentity) -> None:
    error = build_error(
        {
            "SOAPGUARD_CLIENT_CERT": client_identity.p12,
            "SOAPGUARD_CLIENT_KEY": client_identity.key,
            PASSWORD_VAR: client_identity.password,
        }
    )
    assert [name for name, _ in error.problems] == ["SOAPGUARD_CLIENT_KEY"]


@pytest.mark.parametrize("form", ["pem", "p12"])
def test_an_expired_client_certificate_is_refused_when_the_client_is_built(
    ca: trustme.CA, tmp_path: Path, form: str
) -> None:
    past = datetime.datetime(2020, 1, 1)
    identity = make_identity(ca, tmp_path, password="Expired-Pa55-1", not_after=past)
    if form == "pem":
        env = {"SOAPGUARD_CLIENT_CERT": identity.cert, "SOAPGUARD_CLIENT_KEY": identity.key}
    else:
        env = {"SOAPGUARD_CLIENT_CERT": identity.p12, PASSWORD_VAR: identity.password}
    error = build_error(env)
    assert error.problems == [("SOAPGUARD_CLIENT_CERT", "expired on 2020-01-01T00:00:00Z")]


def test_pkcs12_without_the_cryptography_package(
    client_identity: ClientIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_cryptography(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("cryptography"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cryptography)
    error = build_error(
        {"SOAPGUARD_CLIENT_CERT": client_identity.p12, PASSWORD_VAR: client_identity.password}
    )
    assert error.problems[0][0] == "SOAPGUARD_CLIENT_CERT"
    assert "pip install 'soapguard[mtls]'" in error.problems[0][1]


def test_an_rc2_file_with_a_wrong_password_mentions_the_cipher(tmp_path: Path) -> None:
    from soapguard.tls import pkcs12

    fake = tmp_path / "rc2.p12"  # PFX-shaped, names RC2-40, decrypts under no password
    rc2 = bytes.fromhex("060a2a864886f70d010c0106")
    fake.write_bytes(bytes([0x30, 3 + len(rc2), 0x02, 0x01, 0x03]) + rc2)
    assert pkcs12.looks_like_pfx(fake.read_bytes())
    error = build_error({"SOAPGUARD_CLIENT_CERT": str(fake), PASSWORD_VAR: WRONG})
    assert error.problems[0][0] == PASSWORD_VAR
    assert "RC2" in error.problems[0][1]


@pytest.mark.parametrize("via", ["memfd", "pipe"])
def test_in_memory_loading_needs_no_file(client_identity: ClientIdentity, via: str) -> None:
    from cryptography.hazmat.primitives import serialization

    if via == "memfd" and _memfile.method() != "memfd":
        pytest.skip("no memfd here")
    chain = Path(client_identity.cert).read_bytes()
    secret = b"one-time-Pa55"
    key = client_identity.key_object.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _memfile.load_cert_chain(ctx, chain, key, secret, via=via)  # a mismatch would raise
    other = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises((ssl.SSLError, OSError)):  # OpenSSL 3 seeks on a wrong password
        _memfile.load_cert_chain(other, chain, key, b"not-the-password", via=via)
    with pytest.raises(_memfile.Unavailable):
        _memfile.load_cert_chain(ctx, chain, key, secret, via="nothing")


# -- pins: classification, rules, hint ---------------------------------------------------------


def pin_chain(presented: tuple[str, ...] = ("sha256/LEAF", "sha256/ROOT")) -> BaseException:
    """What requests raises after urllib3 gave up on a pin mismatch in connect()."""
    leaf = PinMismatch(presented, ("sha256/PINNED",))
    wrapped = u3.SSLError(leaf)
    wrapped.__cause__ = leaf
    retry = u3.MaxRetryError(None, "/svc", reason=wrapped)  # type: ignore[arg-type]
    return rex.SSLError(retry)


def handshake_attempt(pins: tuple[str, ...] | None) -> Attempt:
    conn = ConnInfo("soap.example", 443, tls_version="1.3", server_pins=pins)
    return Attempt(phase="handshake", conn=conn, reused_connection=False)


def test_a_pin_mismatch_is_classified_never_retried_and_hinted() -> None:
    attempt = handshake_attempt(("sha256/LEAF", "sha256/ROOT"))
    failure = classify(pin_chain(), attempt)
    assert (failure.type, failure.origin) == ("tls.pin_mismatch", "local")
    assert (failure.phase, failure.request_sent) == ("handshake", "none")
    assert failure.message.startswith("the server's verified certificate chain (sha256/LEAF")
    decision = decide(failure, idempotent=True, attempt=1, max_attempts=3, remaining=60, sleep=0)
    assert (decision.retry, decision.reason) == (False, "non_retryable")
    ctx = CallContext("Svc", "GetBalance", "https://soap.example/svc", True, 3)
    event = attempt_event(
        ctx, attempt, failure, decision="raise", decision_reason="non_retryable",
        backoff_ms=None, duration_ms=1.0, config=Config(),
    )  # fmt: skip
    assert event["tls.server.pins"] == ["sha256/LEAF", "sha256/ROOT"]
    assert event["hint"] is not None
    assert "add sha256/LEAF to SOAPGUARD_PINNED_KEYS" in event["hint"]
    assert "1 more" in event["hint"]


def test_a_pin_mismatch_without_any_connection_evidence_is_still_not_sent() -> None:
    failure = classify(pin_chain(()))
    assert (failure.type, failure.request_sent) == ("tls.pin_mismatch", "none")
    assert "verification is off" in failure.message


def test_pin_mismatch_is_a_certificate_error_that_pickles() -> None:
    exc = PinMismatch(("sha256/A",), ("sha256/B",))
    assert isinstance(exc, ssl.SSLCertVerificationError)
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.presented, copy.pinned, str(copy)) == (exc.presented, exc.pinned, str(exc))
    assert str(exc).startswith("the server's verified certificate chain (sha256/A, ")


# -- expiry warnings -----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Events:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def emit(self, event: Any) -> None:
        self.seen.append(dict(event))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(expiry, "watch", expiry.ExpiryWatch(clock=fake))
    return fake


def server_der(ca: trustme.CA, days: float) -> bytes:
    when = datetime.datetime.now() + datetime.timedelta(days=days)
    pem = ca.issue_cert("localhost", not_after=when).cert_chain_pems[0].bytes()
    der = first_pem_certificate(pem)
    assert der is not None
    return der


def new_connection(der: bytes | None, client: Any = None, *, noticed: bool = False) -> Attempt:
    info = parse(der) if der is not None else None
    conn = ConnInfo("soap.example", 8443, cert_sha256=info.sha256 if info else None, cert_der=der)
    conn.client_cert, conn.expiry_noticed = client, noticed
    return Attempt(conn=conn, reused_connection=noticed)


def test_a_server_certificate_is_reported_once_a_day(ca: trustme.CA, clock: Clock) -> None:
    der, sink = server_der(ca, 10), Events()
    expiry.notice(new_connection(der), sink, Config())  # type: ignore[arg-type]
    [event] = sink.seen
    assert event["event"] == "soapguard.certificate_expiring"
    assert (event["tls.certificate.role"], event["days_left"]) == ("server", 9)
    assert (event["server.address"], event["server.port"]) == ("soap.example", 8443)
    assert set(event) >= {"tls.certificate.subject", "tls.certificate.not_after", "hint"}
    clock.now += 3600
    expiry.notice(new_connection(der), sink, Config())  # type: ignore[arg-type]
    assert len(sink.seen) == 1
    clock.now += 86400
    expiry.notice(new_connection(der), sink, Config())  # type: ignore[arg-type]
    assert len(sink.seen) == 2  # a day later, still expiring: once more


def test_what_is_not_reported(ca: trustme.CA, clock: Clock) -> None:
    sink = Events()
    expiry.notice(new_connection(server_der(ca, 60)), sink, Config())  # type: ignore[arg-type]
    expiry.notice(new_connection(server_der(ca, 10), noticed=True), sink, Config())  # type: ignore[arg-type]
    expiry.notice(new_connection(server_der(ca, 10)), sink, Config(cert_expiry_warning=5))  # type: ignore[arg-type]
    expiry.notice(new_connection(server_der(ca, 1)), sink, Config(cert_expiry_warning=0))  # type: ignore[arg-type]
    expiry.notice(Attempt(), sink, Config())  # type: ignore[arg-type]
    assert sink.seen == []


def test_a_client_certificate_is_reported_with_its_role(ca: trustme.CA, clock: Clock) -> None:
    client = parse(server_der(ca, 3))
    sink = Events()
    expiry.notice(new_connection(None, client), sink, Config())  # type: ignore[arg-type]
    [event] = sink.seen
    assert (event["tls.certificate.role"], event["days_left"]) == ("client", 2)
    assert "SOAPGUARD_CLIENT_CERT" in event["hint"]


def test_a_broken_certificate_never_breaks_the_call(clock: Clock) -> None:
    attempt = new_connection(None)
    assert attempt.conn is not None
    attempt.conn.cert_sha256, attempt.conn.cert_der = "ab" * 32, b"\x30\x03junk"
    expiry.notice(attempt, Events(), Config())  # type: ignore[arg-type]


def test_the_watch_forgets_the_oldest_and_starts_afresh_after_fork(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watch = expiry.ExpiryWatch(clock=Clock())
    monkeypatch.setattr(expiry, "REMEMBERED", 3)
    for n in range(5):
        assert watch.due("server", str(n))
    assert not watch.due("server", "4")
    assert watch.due("server", "0")  # forgotten: bounded memory
    monkeypatch.setattr(expiry.os, "getpid", lambda: -1)
    assert watch.due("server", "4")  # a child process reports for itself


def test_the_event_is_logged_as_a_warning_with_one_line(
    ca: trustme.CA, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    emitter = emit.Emitter(Config())
    with caplog.at_level(logging.INFO, logger=emit.LOGGER_NAME):
        expiry.notice(new_connection(server_der(ca, 10)), emitter, Config())
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("soapguard.certificate_expiring server certificate ")
    assert "(9 days left)" in record.getMessage()
    assert record.soapguard["days_left"] == 9  # type: ignore[attr-defined]
