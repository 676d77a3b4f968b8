"""Unit tests of soapguard.classify on recorded exception chains.

Chains are built in the shapes requests 2.x / urllib3 2.x really raise (checked
against live runs, see test_classify_live.py); OpenSSL errors are either
genuine (two in-memory TLS endpoints, one record damaged) or carry
``library``/``reason`` as CPython's ``_ssl`` sets them.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import socket
import ssl
from collections.abc import Callable

import lxml.etree
import pytest
import requests
import requests.exceptions as rex
import trustme
import urllib3
import urllib3.exceptions as u3
import zeep.exceptions as zx

from soapguard.classify import TYPES, classify, parse_retry_after
from soapguard.classify._util import walk as chain
from soapguard.errors import DeadlineExceeded, SSLError
from soapguard.transport.evidence import Attempt, ConnInfo, RecordStats

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


def observed(phase: str = "receive", sent: str = "full", tls: str | None = "TLSv1.2") -> Attempt:
    """A Attempt as the instrumented connection leaves it."""
    progress = Attempt(phase=phase, conn=ConnInfo("soap.example", 443, tls_version=tls))  # type: ignore[arg-type]
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


def handshake_progress(records_in: int | None) -> Attempt:
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


@pytest.mark.parametrize(
    ("phase", "expected"), [("handshake", "tls.handshake_failure"), ("receive", "tls.other")]
)
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


# -- connections and timeouts --------------------------------------------------------------------


def refused() -> BaseException:
    leaf = ConnectionRefusedError(111, "Connection refused")
    wrapper = u3.NewConnectionError(CONN, f"Failed to establish a new connection: {leaf}")
    return via_pool(linked(wrapper, leaf, cause=True))


def dns() -> BaseException:
    leaf = socket.gaierror(-2, "Name or service not known")
    wrapper = u3.NameResolutionError("soap.invalid", CONN, leaf)
    return via_pool(linked(wrapper, leaf, cause=True))


def reset_while_connecting() -> BaseException:
    leaf = ConnectionResetError(104, "Connection reset by peer")
    wrapper = u3.NewConnectionError(CONN, f"Failed to establish a new connection: {leaf}")
    return via_pool(linked(wrapper, leaf, cause=True))


def connect_timeout() -> BaseException:
    leaf = TimeoutError("timed out")
    wrapper = u3.ConnectTimeoutError(CONN, "Connection to soap.example timed out.")
    return via_pool(linked(wrapper, leaf, cause=True), rex.ConnectTimeout)


def read_timeout(text: str = "The read operation timed out") -> BaseException:
    leaf = TimeoutError(text)
    wrapper = linked(u3.ReadTimeoutError(POOL, "/svc", "Read timed out."), leaf, cause=True)
    return linked(rex.ReadTimeout(wrapper, request=REQ), wrapper)


def unreachable() -> BaseException:
    leaf = OSError(113, "No route to host")
    wrapper = u3.NewConnectionError(CONN, f"Failed to establish a new connection: {leaf}")
    return via_pool(linked(wrapper, leaf, cause=True))


@pytest.mark.parametrize(
    ("make", "error_type", "phase", "sent"),
    [
        (refused, "connection.refused", "connect", "none"),
        (unreachable, "connection.refused", "connect", "none"),
        (dns, "connection.dns", "connect", "none"),
        (lambda: socket.gaierror(-3, "Temporary failure"), "connection.dns", "connect", "none"),
        (reset_while_connecting, "connection.reset", "connect", "none"),
        (connect_timeout, "timeout.connect", "connect", "none"),
        (
            lambda: read_timeout("_ssl.c:989: The handshake operation timed out"),
            "timeout.connect",
            "handshake",
            "none",
        ),
        (read_timeout, "timeout.read", None, "full"),
        (lambda: TimeoutError("timed out"), "timeout.read", None, "full"),
        (lambda: DeadlineExceeded("deadline of 1s reached"), "timeout.deadline", None, "full"),
        (lambda: aborted(ConnectionResetError(104, "reset")), "connection.reset", None, "full"),
        (lambda: aborted(BrokenPipeError(32, "Broken pipe")), "connection.reset", None, "full"),
        (lambda: aborted(ConnectionAbortedError(103, "aborted")), "connection.reset", None, "full"),
        (
            lambda: aborted(
                http.client.RemoteDisconnected("Remote end closed connection without response")
            ),
            "connection.reset",
            "wait",
            "full",
        ),
        (
            lambda: aborted(ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed")),
            "connection.reset",
            None,
            "full",
        ),
        (lambda: broken(u3.IncompleteRead(3, 997)), "connection.reset", "receive", "full"),
        (lambda: rex.ConnectionError("mocked"), "connection.reset", None, "full"),
        (
            lambda: body_tls_chain(ConnectionResetError(104, "reset")),
            "connection.reset",
            None,
            "full",
        ),
    ],
)
def test_network_failures_without_progress(make, error_type, phase, sent) -> None:
    failure = classify(make())
    assert (failure.type, failure.origin) == (error_type, None)
    assert (failure.phase, failure.request_sent) == (phase, sent)


def test_messages_name_the_failure_not_the_retry_wrapper() -> None:
    assert "[Errno 111] Connection refused" in classify(refused()).message
    assert "soap.example" in classify(refused()).message
    assert "soap.invalid" in classify(dns()).message
    assert classify(read_timeout()).message.endswith("Read timed out.")
    for make in (refused, dns, connect_timeout, unreachable, reset_while_connecting):
        assert "Max retries exceeded" not in classify(make()).message


@pytest.mark.parametrize(
    ("tls", "expected"), [("TLSv1.3", "tls.unexpected_eof"), (None, "connection.reset")]
)
def test_body_cut_short_is_an_unexpected_eof_only_over_tls(tls, expected) -> None:
    # urllib3 suppresses ragged EOFs, so a TLS peer closing mid-body shows as IncompleteRead
    for exc in (
        broken(u3.IncompleteRead(3, 997)),
        broken(http.client.IncompleteRead(b"abc", 997)),
        linked(
            rex.ChunkedEncodingError(u3.ProtocolError("Response ended prematurely")), KeyError()
        ),
    ):
        failure = classify(exc, observed("receive", "full", tls=tls))
        assert (failure.type, failure.origin, failure.phase) == (expected, None, "receive")


def test_body_cut_short_on_an_https_url_is_an_unexpected_eof_without_progress() -> None:
    proto = u3.ProtocolError("Connection broken: IncompleteRead", u3.IncompleteRead(3, 7))
    assert classify(rex.ConnectionError(proto, request=REQ)).type == "tls.unexpected_eof"


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("connect", "timeout.connect"),
        ("handshake", "timeout.connect"),
        ("send", "timeout.read"),
        ("wait", "timeout.read"),
        ("receive", "timeout.read"),
    ],
)
def test_timeouts_follow_the_observed_phase(phase, expected) -> None:
    progress = observed(phase, "none" if phase in ("connect", "handshake") else "full")
    for exc in (TimeoutError("timed out"), read_timeout()):  # socket.timeout is TimeoutError
        failure = classify(exc, progress)
        assert (failure.type, failure.phase) == (expected, phase)


# -- HTTP, SOAP and invalid responses -----------------------------------------------------------


def http_error(status: int, headers: dict[str, str]) -> rex.HTTPError:
    response = requests.Response()
    response.status_code, response.headers = (
        status,
        requests.structures.CaseInsensitiveDict(headers),
    )
    return rex.HTTPError(f"{status} Server Error", response=response, request=REQ)


@pytest.mark.parametrize(
    ("exc", "error_type", "status"),
    [
        (http_error(503, {}), "http.status", 503),
        (zx.TransportError("Server returned HTTP status 502", status_code=502), "http.status", 502),
        (
            zx.TransportError("Server returned response (200) with invalid XML", 200),
            "response.invalid",
            200,
        ),
        (zx.Fault("Account locked", code="soap:Client"), "soap.fault", None),
        (
            zx.XMLSyntaxError("The XML returned by the server is not valid"),
            "response.invalid",
            None,
        ),
        (zx.XMLParseError("bad schema"), "response.invalid", None),
        (aborted(http.client.BadStatusLine("garbage\r\n")), "response.invalid", None),
        (aborted(http.client.LineTooLong("header line")), "response.invalid", None),
        (
            broken(u3.InvalidChunkLength(urllib3.HTTPResponse(), b"zz\r\n")),
            "response.invalid",
            None,
        ),
        (
            rex.ContentDecodingError("Received response with content-encoding: gzip"),
            "response.invalid",
            None,
        ),
        (rex.InvalidHeader("Invalid leading whitespace"), "response.invalid", None),
        (rex.ChunkedEncodingError("chunked"), "response.invalid", None),
    ],
)
def test_response_level_failures(exc, error_type, status) -> None:
    failure = classify(exc, Attempt())  # an untouched Attempt (mocked transport) proves nothing
    assert (failure.type, failure.origin, failure.http_status) == (error_type, None, status)
    assert (failure.phase, failure.request_sent) == ("receive", "full")  # the server answered


def test_lxml_syntax_error_is_an_invalid_response() -> None:
    with pytest.raises(lxml.etree.XMLSyntaxError) as info:
        lxml.etree.fromstring(b"<Envelope><Body>")
    failure = classify(info.value, observed("receive", "full"))
    assert (failure.type, failure.phase, failure.request_sent) == (
        "response.invalid",
        "receive",
        "full",
    )


def test_response_failures_keep_a_partial_send_as_observed() -> None:
    failure = classify(http_error(413, {}), observed("receive", "partial"))
    assert (failure.type, failure.request_sent, failure.http_status) == (
        "http.status",
        "partial",
        413,
    )


# -- progress as evidence ------------------------------------------------------------------------


@pytest.mark.parametrize("sent", ["none", "partial", "full"])
def test_observed_progress_decides_phase_and_request_sent(sent) -> None:
    exc = aborted(ConnectionResetError(104, "Connection reset by peer"))
    failure = classify(exc, observed("send", sent))
    assert (failure.type, failure.phase, failure.request_sent) == ("connection.reset", "send", sent)


def test_a_bad_record_mac_during_the_handshake_was_not_sent() -> None:
    leaf = ssl_error("DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "decryption failed or bad record mac")
    failure = classify(tls_chain(leaf), observed("handshake", "none"))
    assert (failure.type, failure.origin) == ("tls.bad_record_mac", "local")
    assert (failure.phase, failure.request_sent) == ("handshake", "none")


@pytest.mark.parametrize(
    "make",
    [
        lambda: aborted(ConnectionResetError(104, "reset")),
        lambda: read_timeout(),
        lambda: body_tls_chain(ssl_error("DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "bad mac")),
        lambda: tls_chain(ssl_error("UNEXPECTED_EOF_WHILE_READING", "eof", ssl.SSLEOFError)),
        lambda: rex.ConnectionError("mocked"),
        lambda: OSError("something odd"),
        lambda: ValueError("not a network error at all"),
    ],
)
def test_unknown_progress_never_makes_a_request_look_unsent(make) -> None:
    # an untouched Attempt (nothing instrumented wrote to it) is no evidence either
    for progress in (None, Attempt()):
        assert classify(make(), progress).request_sent == "full"


# -- a carried report is never evidence -----------------------------------------------------------

REPORT = {
    "error.type": "tls.bad_record_mac",
    "error.origin": "peer",
    "error.message": "[SSL: SSLV3_ALERT_BAD_RECORD_MAC] sslv3 alert bad record mac",
    "phase": "wait",
    "request_sent": "full",
    "openssl.library": "SSL",
    "openssl.reason": "SSLV3_ALERT_BAD_RECORD_MAC",
    "http.response.status_code": None,
}


def test_a_report_in_the_chain_never_replaces_this_attempts_evidence() -> None:
    # the report describes an earlier attempt (request_sent=full); this attempt's own
    # connection saw a reset before any byte left, and only that may count
    earlier = SSLError("tls.bad_record_mac (peer) during wait ...", report=REPORT)
    reset = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    reset.__context__ = earlier
    failure = classify(linked(RuntimeError("wrapped"), reset), observed("connect", "none"))
    assert (failure.type, failure.request_sent, failure.phase) == (
        "connection.reset",
        "none",
        "connect",
    )


def test_a_report_saying_nothing_was_sent_never_makes_a_sent_request_look_unsent() -> None:
    earlier = SSLError("reset on accept", report={**REPORT, "request_sent": "none"})
    reset = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    reset.__context__ = earlier
    assert classify(reset, observed("wait", "full")).request_sent == "full"
    assert classify(reset).request_sent == "full"  # no evidence at all: assume it left


def test_deadline_wins_over_a_carried_report() -> None:
    exc = DeadlineExceeded("deadline", report={**REPORT, "error.type": "timeout.read"})
    assert classify(exc).type == "timeout.deadline"


# -- Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0.3", 0.3),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 100.0),  # now is injected below
        ("Sun, 06 Nov 1994 08:47:57 GMT", 0.0),  # in the past: no wait
        ("soon", None),
        ("-5", None),
        ("", None),
        ("9" * 50, None),
        (None, None),
    ],
)
def test_parse_retry_after(value, expected) -> None:
    now = 784111677.0  # 1994-11-06 08:47:57 UTC
    assert parse_retry_after(value, now=now) == expected


def test_retry_after_comes_from_progress_headers_or_the_response() -> None:
    progress = observed("receive", "full")
    progress.status, progress.response_headers = 503, {"retry-after": "4"}
    failure = classify(zx.TransportError("Server returned HTTP status 503", 503), progress)
    assert (failure.type, failure.http_status, failure.retry_after) == ("http.status", 503, 4.0)
    failure = classify(http_error(503, {"Retry-After": "9"}))
    assert (failure.http_status, failure.retry_after) == (503, 9.0)
    assert classify(http_error(503, {})).retry_after is None


# -- chain() ---------------------------------------------------------------------------------------


def test_chain_follows_reason_args_cause_and_context_breadth_first() -> None:
    exc = refused()
    names = [type(e).__name__ for e in chain(exc)]
    assert names == [
        "ConnectionError",
        "MaxRetryError",
        "NewConnectionError",
        "ConnectionRefusedError",
    ]
    in_args = ValueError("outer", KeyError("in args"))
    in_args.__cause__ = IndexError("cause")
    in_args.__context__ = TypeError("context")
    assert [type(e) for e in chain(in_args)] == [ValueError, KeyError, IndexError, TypeError]


def test_chain_survives_cycles_and_is_bounded() -> None:
    a, b = ValueError("a"), KeyError("b")
    a.__context__, b.__context__ = b, a
    a.args = (a, b, a)
    assert chain(a) == [a, b]
    deep = ValueError(0)
    for i in range(1, 100):
        deep = linked(ValueError(i), deep)
    links = chain(deep)
    assert len(links) == 32
    assert [e.args[0] for e in links[:3]] == [99, 98, 97]


# -- totality ----------------------------------------------------------------------------------


class Hostile(Exception):
    """Everything that could be looked at raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")

    @property
    def reason(self) -> str:
        raise RuntimeError("no reason")

    @property
    def response(self) -> object:
        raise RuntimeError("no response")


class HostileSSL(ssl.SSLError):
    @property
    def reason(self) -> object:  # type: ignore[override]
        raise RuntimeError("no reason")


def weird_ssl() -> ssl.SSLError:
    exc = ssl.SSLError(1, "odd")
    exc.reason, exc.library = 42, None  # type: ignore[assignment]
    return exc


@pytest.mark.parametrize(
    "make",
    [
        Hostile,
        lambda: linked(rex.SSLError(Hostile()), Hostile()),
        lambda: HostileSSL(1, "x"),
        weird_ssl,
        lambda: http_error(503, {"Retry-After": "\udcff"}),
        lambda: zx.TransportError("no status", status_code=None),  # type: ignore[arg-type]
        lambda: zx.Fault(None),  # type: ignore[arg-type]
        lambda: rex.SSLError(None),
        lambda: u3.MaxRetryError(POOL, "/svc", reason=None),
        lambda: KeyboardInterrupt(),
        lambda: SystemExit(3),
        lambda: Exception(),
        lambda: OSError(),
        lambda: ssl.SSLError(),
        lambda: PyOpenSSLError([("SSL routines",), None, 3]),
    ],
)
def test_classify_never_raises(make) -> None:
    exc = make()
    failure = classify(exc, observed("wait", "full"))
    assert failure.type in TYPES
    assert isinstance(failure.message, str)
    assert failure.message
    assert failure.origin in (None, "local", "peer")
    assert classify(exc).request_sent in ("none", "partial", "full")


def test_classify_accepts_a_non_exception() -> None:
    failure = classify("not an exception")  # type: ignore[arg-type]
    assert failure.type in TYPES


# -- messages ----------------------------------------------------------------------------------


def test_messages_are_redacted_and_short() -> None:
    exc = rex.ConnectionError(
        "Connection to https://alice:hunter2@soap.example/svc?token=abc123 failed " + "x" * 500
    )
    failure = classify(exc)
    assert "hunter2" not in failure.message
    assert "abc123" not in failure.message
    assert "soap.example" in failure.message
    assert len(failure.message) <= 300


def test_an_empty_message_falls_back_to_the_type_name() -> None:
    assert classify(aborted(ConnectionResetError())).message == "ConnectionResetError"


@pytest.mark.parametrize(
    "make",
    [
        refused,
        dns,
        connect_timeout,
        unreachable,
        reset_while_connecting,
        read_timeout,
        lambda: tls_chain(ssl_error("DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "bad mac")),
        lambda: tls_chain(ssl.SSLError()),
        lambda: via_pool(u3.ProtocolError("Connection aborted.")),
    ],
)
def test_messages_never_mention_max_retries(make) -> None:
    assert "Max retries exceeded" not in classify(make()).message


def test_retry_after_is_only_read_for_http_status_failures() -> None:
    progress = observed("receive", "full")
    progress.status, progress.response_headers = 200, {"Retry-After": "30"}
    leaf = ssl_error("DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "decryption failed or bad record mac")
    failure = classify(body_tls_chain(leaf), progress)
    assert (failure.type, failure.http_status, failure.retry_after) == (
        "tls.bad_record_mac",
        200,
        None,
    )


def test_a_malformed_report_is_ignored() -> None:
    exc = SSLError("odd", report={"error.type": ["tls.other"], "phase": {}, "request_sent": []})
    exc.__context__ = ConnectionResetError(104, "reset")
    assert classify(exc).type == "connection.reset"
