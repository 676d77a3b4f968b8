"""Unit tests of soapguard.classify on recorded exception chains.

Chains are built in the shapes requests 2.x / urllib3 2.x really raise (checked
against live runs, see test_classify_live.py); OpenSSL errors are either
genuine (two in-memory TLS endpoints, one record damaged) or carry
``library``/``reason`` as CPython's ``_ssl`` sets them.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable

import pytest
import requests
import requests.exceptions as rex
import trustme
import urllib3
import urllib3.exceptions as u3

from soapguard._state import ConnInfo, Progress, RecordStats
from soapguard.classify import classify

POOL = urllib3.HTTPSConnectionPool("soap.example", 443)
CONN = urllib3.connection.HTTPSConnection("soap.example", 443)
REQ = requests.Request("POST", "https://soap.example/svc").prepare()


def linked(outer: BaseException, inner: BaseException, *, cause: bool = False) -> BaseException:
    """``outer`` as if raised while handling ``inner`` (``raise ... from inner`` with cause)."""
    outer.__context__ = inner
    if cause:
        outer.__cause__ = inner
    return outer


def via_pool(reason: BaseException, cls: type[rex.RequestException] = rex.ConnectionError):
    """requests' adapter after urllib3 gave up: ``cls(MaxRetryError(reason=reason))``."""
    retry = linked(u3.MaxRetryError(POOL, "/svc", reason=reason), reason, cause=True)
    return linked(cls(retry, request=REQ), retry)


def ssl_error(reason: str, text: str, cls: type[ssl.SSLError] = ssl.SSLError) -> ssl.SSLError:
    exc = cls(1, f"[SSL: {reason}] {text} (_ssl.c:2580)")
    exc.library, exc.reason = "SSL", reason  # as _ssl.c sets them
    return exc


def tls_chain(leaf: BaseException) -> BaseException:
    """A TLS error in the handshake or while waiting for headers."""
    return via_pool(linked(u3.SSLError(leaf), leaf), rex.SSLError)


def body_tls_chain(leaf: BaseException) -> BaseException:
    """A TLS error while requests reads the body (``iter_content``)."""
    wrapped = linked(u3.SSLError(leaf), leaf, cause=True)
    return linked(rex.SSLError(wrapped), wrapped)


def aborted(leaf: BaseException) -> BaseException:
    proto = linked(u3.ProtocolError("Connection aborted.", leaf), leaf)
    return linked(rex.ConnectionError(proto, request=REQ), proto)


def broken(leaf: BaseException) -> BaseException:
    proto = linked(u3.ProtocolError(f"Connection broken: {leaf!r}", leaf), leaf, cause=True)
    return linked(rex.ChunkedEncodingError(proto), proto)


def observed(phase: str = "receive", sent: str = "full", tls: str | None = "TLSv1.2") -> Progress:
    """A Progress as the instrumented connection leaves it."""
    progress = Progress(phase=phase, conn=ConnInfo("soap.example", 443, tls_version=tls))  # type: ignore[arg-type]
    progress.bytes_sent = 0 if sent == "none" else 10
    progress.request_complete = sent == "full"
    return progress


# -- genuine OpenSSL errors: two endpoints joined by memory BIOs -----------------------------


TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
#: provocation -> (server settings, client settings)
PROVOKE: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    "mac_local": ({"maximum_version": TLS12}, {}),
    "mac_peer": ({"maximum_version": TLS12}, {}),
    "cipher": ({"maximum_version": TLS12, "ciphers": "AES256-SHA"}, {}),  # static RSA only
    "version": ({"maximum_version": TLS12}, {"minimum_version": TLS13}),
    "hostname": ({}, {}),
    "eof": ({}, {}),
}


class Pair:
    """A TLS client and server talking through memory BIOs: real OpenSSL, no sockets."""

    def __init__(self, ca: trustme.CA, kind: str) -> None:
        server, client = PROVOKE[kind]
        s_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        c_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ca.issue_cert("soap.example").configure_cert(s_ctx)
        ca.configure_trust(c_ctx)
        for ctx, settings in ((s_ctx, server), (c_ctx, client)):
            for name, value in settings.items():
                if name == "ciphers":
                    ctx.set_ciphers(str(value))
                else:
                    setattr(ctx, name, value)
        self.c_in, self.c_out, self.s_in, self.s_out = (ssl.MemoryBIO() for _ in range(4))
        host = "other.example" if kind == "hostname" else "soap.example"
        self.client = c_ctx.wrap_bio(self.c_in, self.c_out, server_hostname=host)
        self.server = s_ctx.wrap_bio(self.s_in, self.s_out, server_side=True)

    def handshake(self) -> None:
        """Run both sides; the client's error propagates, the server's only sends its alert."""
        for _ in range(8):
            with contextlib.suppress(ssl.SSLWantReadError):
                self.client.do_handshake()
            self.s_in.write(self.c_out.read())
            with contextlib.suppress(ssl.SSLError):
                self.server.do_handshake()
            self.c_in.write(self.s_out.read())


def flip_last(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[-3] ^= 0x01  # inside the AEAD tag of the last record
    return bytes(damaged)


def provoke(pair: Pair, kind: str) -> None:
    if kind == "eof":  # the peer closes the TCP stream in the middle of the handshake
        with contextlib.suppress(ssl.SSLWantReadError):
            pair.client.do_handshake()
        pair.c_in.write_eof()
        pair.client.do_handshake()
    pair.handshake()
    if kind == "mac_local":  # the server's record is damaged: we reject it
        pair.server.write(b"HTTP/1.1 200 OK\r\n")
        pair.c_in.write(flip_last(pair.s_out.read()))
        pair.client.read(100)
    if kind == "mac_peer":  # our record is damaged: the server's alert comes back
        pair.client.write(b"POST /svc HTTP/1.1\r\n")
        pair.s_in.write(flip_last(pair.c_out.read()))
        with contextlib.suppress(ssl.SSLError):
            pair.server.read(100)
        pair.c_in.write(pair.s_out.read())
        pair.client.read(100)


@pytest.fixture(scope="module")
def genuine() -> Callable[[str], ssl.SSLError]:
    ca = trustme.CA()

    def make(kind: str) -> ssl.SSLError:
        try:
            provoke(Pair(ca, kind), kind)
        except ssl.SSLError as exc:
            return exc
        raise AssertionError(f"{kind}: no TLS error was provoked")

    return make


@pytest.mark.parametrize(
    ("kind", "reason", "error_type", "origin"),
    [
        ("mac_local", "DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "tls.bad_record_mac", "local"),
        ("mac_peer", "SSLV3_ALERT_BAD_RECORD_MAC", "tls.bad_record_mac", "peer"),
        ("cipher", "SSLV3_ALERT_HANDSHAKE_FAILURE", "tls.handshake_failure", "peer"),
        ("version", "TLSV1_ALERT_PROTOCOL_VERSION", "tls.protocol_version", "peer"),
        ("hostname", "CERTIFICATE_VERIFY_FAILED", "tls.certificate", "local"),
        ("eof", "UNEXPECTED_EOF_WHILE_READING", "tls.unexpected_eof", None),
    ],
)
def test_genuine_openssl_errors(genuine, kind, reason, error_type, origin) -> None:
    leaf = genuine(kind)
    assert leaf.reason == reason  # the provocation did what it says
    for exc in (leaf, tls_chain(leaf), body_tls_chain(leaf)):
        failure = classify(exc)
        assert (failure.type, failure.origin) == (error_type, origin)
        assert (failure.library, failure.reason) == ("SSL", reason)
        assert failure.message == str(leaf)


# -- OpenSSL reasons, as _ssl.c sets them ------------------------------------------------------

E, EOF, CERT = ssl.SSLError, ssl.SSLEOFError, ssl.SSLCertVerificationError


@pytest.mark.parametrize(
    ("cls", "reason", "error_type", "origin", "handshake_only"),
    [
        (E, "DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "tls.bad_record_mac", "local", False),
        (E, "BAD_RECORD_MAC", "tls.bad_record_mac", "local", False),
        (E, "SSLV3_ALERT_BAD_RECORD_MAC", "tls.bad_record_mac", "peer", False),
        (E, "TLSV1_ALERT_BAD_RECORD_MAC", "tls.bad_record_mac", "peer", False),
        (EOF, "UNEXPECTED_EOF_WHILE_READING", "tls.unexpected_eof", None, False),
        (CERT, "CERTIFICATE_VERIFY_FAILED", "tls.certificate", "local", True),
        (E, "SSLV3_ALERT_BAD_CERTIFICATE", "tls.certificate", "peer", False),
        (E, "TLSV1_ALERT_UNKNOWN_CA", "tls.certificate", "peer", False),
        (E, "TLSV13_ALERT_CERTIFICATE_REQUIRED", "tls.certificate", "peer", False),
        (E, "SSLV3_ALERT_CERTIFICATE_EXPIRED", "tls.certificate", "peer", False),
        (E, "UNSUPPORTED_PROTOCOL", "tls.protocol_version", "local", True),
        (E, "TLSV1_ALERT_PROTOCOL_VERSION", "tls.protocol_version", "peer", True),
        (E, "NO_PROTOCOLS_AVAILABLE", "tls.protocol_version", "local", True),
        (E, "WRONG_VERSION_NUMBER", "tls.protocol_version", "local", True),
        (E, "VERSION_TOO_LOW", "tls.protocol_version", "local", True),
        (E, "TLSV1_ALERT_INAPPROPRIATE_FALLBACK", "tls.protocol_version", "peer", True),
        (E, "NO_SHARED_CIPHER", "tls.no_shared_cipher", "local", True),
        (E, "NO_CIPHERS_AVAILABLE", "tls.no_shared_cipher", "local", True),
        (E, "NO_CIPHER_MATCH", "tls.no_shared_cipher", "local", True),
        (E, "SSLV3_ALERT_HANDSHAKE_FAILURE", "tls.handshake_failure", "peer", True),
        (E, "SSLV3_ALERT_ILLEGAL_PARAMETER", "tls.other", "peer", False),
        (E, "TLSV1_UNRECOGNIZED_NAME", "tls.other", "peer", False),
        (E, "RECORD_LAYER_FAILURE", "tls.other", "local", False),
    ],
)
def test_openssl_reasons(cls, reason, error_type, origin, handshake_only) -> None:
    leaf = ssl_error(reason, reason.lower().replace("_", " "), cls)
    failure = classify(tls_chain(leaf))
    assert (failure.type, failure.origin) == (error_type, origin)
    assert (failure.library, failure.reason) == ("SSL", reason)
    assert failure.message == str(leaf)
    # without progress, "none" only where certain: failures that exist only in the handshake
    expected = ("handshake", "none") if handshake_only else (None, "full")
    assert (failure.phase, failure.request_sent) == expected


def handshake_progress(records_in: int | None) -> Progress:
    progress = observed("handshake", "none")
    assert progress.conn is not None
    if records_in is not None:
        progress.conn.records = RecordStats(records_in=records_in)
    return progress


@pytest.mark.parametrize(
    ("records_in", "expected"),
    [
        (1, "tls.no_shared_cipher"),  # the alert was the server's only record: no ServerHello
        (0, "tls.no_shared_cipher"),
        (5, "tls.handshake_failure"),  # ServerHello, Certificate... then the alert
        (None, "tls.handshake_failure"),  # records not traced: no inference
    ],
)
def test_handshake_failure_alert_without_server_hello_means_no_shared_cipher(
    records_in, expected
) -> None:
    leaf = ssl_error("SSLV3_ALERT_HANDSHAKE_FAILURE", "sslv3 alert handshake failure")
    failure = classify(tls_chain(leaf), handshake_progress(records_in))
    assert (failure.type, failure.origin, failure.phase) == (expected, "peer", "handshake")
    assert failure.request_sent == "none"


@pytest.mark.parametrize(("phase", "expected"), [("handshake", "tls.handshake_failure"),
                                                   ("receive", "tls.other")])  # fmt: skip
def test_other_tls_errors_are_handshake_failures_in_the_handshake(phase, expected) -> None:
    leaf = ssl_error("WRONG_SIGNATURE_TYPE", "wrong signature type")
    progress = observed(phase, "none" if phase == "handshake" else "full")
    failure = classify(tls_chain(leaf), progress)
    assert (failure.type, failure.origin, failure.phase) == (expected, "local", phase)


class PyOpenSSLError(Exception):
    """Shaped like OpenSSL.SSL.Error: a list of (library, function, reason text)."""


@pytest.mark.parametrize(
    ("text", "origin"),
    [("decryption failed or bad record mac", "local"), ("sslv3 alert bad record mac", "peer")],
)
def test_pyopenssl_style_errors_fall_back_to_text(text, origin) -> None:
    inner = PyOpenSSLError([("SSL routines", "", text)])
    # urllib3.contrib.pyopenssl: raise ssl.SSLError(f"read error: {e!r}") from e
    outer = linked(ssl.SSLError(f"read error: {inner!r}"), inner, cause=True)
    for exc in (inner, outer, body_tls_chain(outer)):
        failure = classify(exc)
        assert (failure.type, failure.origin) == ("tls.bad_record_mac", origin)
        assert (failure.library, failure.reason) == (None, None)  # not invented


def test_bracketed_reason_is_used_when_attributes_are_missing() -> None:
    leaf = ssl.SSLError(1, "[SSL: SSLV3_ALERT_BAD_RECORD_MAC] sslv3 alert bad record mac")
    failure = classify(body_tls_chain(leaf))
    assert (failure.type, failure.origin) == ("tls.bad_record_mac", "peer")
    assert (failure.library, failure.reason) == ("SSL", "SSLV3_ALERT_BAD_RECORD_MAC")


def test_tls_error_without_any_reason_is_tls_other_of_unknown_origin() -> None:
    failure = classify(rex.SSLError("boom"))
    assert (failure.type, failure.origin, failure.message) == ("tls.other", None, "boom")
    failure = classify(ssl.SSLError("EOF occurred in violation of protocol"))
    assert failure.type == "tls.unexpected_eof"
