"""Tests of soapguard.errors (exception tree, error_for, pickling) and classify.mapped_errors."""

from __future__ import annotations

import http.client
import pickle
import socket
import ssl
from typing import Any

import pytest
import requests
import requests.exceptions as rex
import zeep.exceptions as zx

from soapguard import errors
from soapguard.classify import classify, mapped_errors
from soapguard.classify.failure import Failure
from soapguard.errors import error_for
from soapguard.transport.evidence import Attempt, ConnInfo

REQ = requests.Request("POST", "https://soap.example/svc").prepare()


def failure(kind: str, origin: Any = None, **kwargs: Any) -> Failure:
    return Failure(kind, origin, kwargs.pop("message", "boom"), **kwargs)


@pytest.mark.parametrize(
    ("original", "kind", "cls", "requests_cls"),
    [
        (rex.SSLError("x"), "tls.bad_record_mac", errors.SSLError, rex.SSLError),
        (rex.ProxyError("x"), "connection.refused", errors.ProxyError, rex.ProxyError),
        (rex.ConnectTimeout("x"), "timeout.connect", errors.ConnectTimeout, rex.ConnectTimeout),
        (rex.ReadTimeout("x"), "timeout.read", errors.ReadTimeout, rex.ReadTimeout),
        # the classification narrows the class where that keeps the requests family...
        (rex.Timeout("x"), "timeout.read", errors.ReadTimeout, rex.Timeout),
        (rex.ConnectionError("x"), "tls.unexpected_eof", errors.SSLError, rex.ConnectionError),
        (rex.ConnectionError("x"), "timeout.connect", errors.ConnectTimeout, rex.ConnectionError),
        (rex.ConnectionError("x"), "connection.reset", errors.ConnectionError, rex.ConnectionError),
        # ...and never widens or leaves it: except clauses written for bare zeep still match
        (rex.SSLError("x"), "connection.reset", errors.SSLError, rex.SSLError),
        (rex.ConnectionError("x"), "timeout.read", errors.ConnectionError, rex.ConnectionError),
        (
            rex.ChunkedEncodingError("x"),
            "tls.unexpected_eof",
            errors.ChunkedEncodingError,
            rex.ChunkedEncodingError,
        ),
        (
            rex.ContentDecodingError("x"),
            "response.invalid",
            errors.ContentDecodingError,
            rex.ContentDecodingError,
        ),
        # not a requests exception: the family follows the taxonomy
        (ssl.SSLError(1, "x"), "tls.other", errors.SSLError, rex.SSLError),
        (
            ConnectionResetError(104, "x"),
            "connection.reset",
            errors.ConnectionError,
            rex.ConnectionError,
        ),
        (socket.gaierror(-2, "x"), "connection.dns", errors.ConnectionError, rex.ConnectionError),
        (TimeoutError("x"), "timeout.read", errors.ReadTimeout, rex.ReadTimeout),
        (TimeoutError("x"), "timeout.connect", errors.ConnectTimeout, rex.ConnectTimeout),
        (None, "timeout.deadline", errors.DeadlineExceeded, rex.Timeout),
        (rex.ReadTimeout("x"), "timeout.deadline", errors.DeadlineExceeded, rex.Timeout),
        (
            http.client.BadStatusLine("x"),
            "response.invalid",
            errors.RequestError,
            rex.RequestException,
        ),
    ],
)
def test_error_for_is_both_soapguard_and_requests(original, kind, cls, requests_cls) -> None:
    err = errors.error_for(failure(kind), original or OSError())
    assert type(err) is cls
    assert isinstance(err, errors.SoapGuardError)
    assert isinstance(err, requests_cls)
    assert err.failure == failure(kind)
    assert str(err).startswith(kind)


def test_error_for_keeps_request_and_response() -> None:
    response = requests.Response()
    original = rex.ConnectionError("x", request=REQ, response=response)
    err = errors.error_for(failure("connection.reset"), original)
    assert (err.request, err.response) == (REQ, response)
    assert err.report == {}  # the attempt loop fills it in when the call gives up


def test_describe_says_what_where_and_whether_sent() -> None:
    f = failure(
        "tls.bad_record_mac",
        "local",
        phase="receive",
        request_sent="full",
        message="[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed",
    )
    assert errors.describe(f) == (
        "tls.bad_record_mac (local) during receive, request_sent=full: "
        "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed"
    )
    assert errors.describe(failure("connection.dns", phase=None, request_sent="none")) == (
        "connection.dns, request_sent=none: boom"
    )


def test_report_is_copied() -> None:
    report = {"error.type": "timeout.read"}
    err = errors.ReadTimeout("x", report=report)
    report["error.type"] = "changed"
    assert err.report == {"error.type": "timeout.read"}
    assert errors.SoapGuardError("no report").report == {}


REPORT = {"error.type": "tls.bad_record_mac", "attempts": [{"attempt": 1}], "hint": "retry"}


@pytest.mark.parametrize(
    "cls",
    [
        errors.SoapGuardError,
        errors.RequestError,
        errors.ConnectionError,
        errors.SSLError,
        errors.ProxyError,
        errors.ConnectTimeout,
        errors.Timeout,
        errors.ReadTimeout,
        errors.DeadlineExceeded,
        errors.ChunkedEncodingError,
        errors.ContentDecodingError,
    ],
)
def test_pickle_round_trip_keeps_message_and_report(cls) -> None:
    err = cls("tls.bad_record_mac (peer) during wait, request_sent=full: bad mac", report=REPORT)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is cls
    assert (str(copy), copy.report) == (str(err), REPORT)


def test_pickle_drops_request_and_response_but_keeps_the_rest() -> None:
    original = rex.SSLError("x", request=REQ, response=requests.Response())
    err = errors.error_for(failure("tls.bad_record_mac", "local"), original)
    err.report = dict(REPORT)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is errors.SSLError
    assert (str(copy), copy.report) == (str(err), REPORT)
    assert (copy.request, copy.response) == (None, None)


def test_config_error_pickles_with_its_problems() -> None:
    err = errors.ConfigError([("SOAPGUARD_MAX_ATTEMPTS", "an integer from 1 to 10")])
    copy = pickle.loads(pickle.dumps(err))
    assert isinstance(copy, ValueError)
    assert str(copy) == str(err)
    assert copy.problems == [("SOAPGUARD_MAX_ATTEMPTS", "an integer from 1 to 10")]


# -- mapped_errors --------------------------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_mapped_errors_converts_a_real_failure_and_chains_it(closed_port: int) -> None:
    attempt = Attempt()
    with pytest.raises(errors.ConnectionError) as info, mapped_errors(attempt, error_for):
        requests.post(f"http://127.0.0.1:{closed_port}/svc", data=b"<x/>", timeout=5)
    err = info.value
    assert isinstance(err, rex.ConnectionError)
    original = err.__cause__
    assert isinstance(original, rex.ConnectionError)
    assert not isinstance(original, errors.SoapGuardError)
    assert "Max retries exceeded" in str(original)  # what requests says...
    assert "Max retries exceeded" not in str(err)  # ...and what soapguard says instead
    assert str(err).startswith("connection.refused during connect, request_sent=none: ")
    assert "Connection refused" in str(err)
    assert err.failure == classify(original)
    # the attempt keeps what was mapped, so the attempt loop does not classify it again
    assert (attempt.failure, attempt.raised) == (err.failure, err)
    assert err.request is original.request


def test_mapped_errors_classifies_against_the_attempts_evidence_and_the_factory() -> None:
    attempt = Attempt(phase="wait", conn=ConnInfo("soap.example", 443, tls_version="TLSv1.2"))
    attempt.bytes_sent, attempt.request_complete = 120, True
    seen: list[Failure] = []

    def factory(f: Failure, original: BaseException) -> errors.SoapGuardError:
        seen.append(f)
        return error_for(f, original)

    leaf = ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed")
    with pytest.raises(errors.SSLError) as info, mapped_errors(attempt, factory):
        raise leaf
    assert info.value.__cause__ is leaf
    [f] = seen
    assert info.value.failure is f
    assert (f.type, f.origin, f.phase, f.request_sent) == (
        "tls.bad_record_mac",
        "local",
        "wait",
        "full",
    )


@pytest.mark.parametrize(
    ("raised", "cls"),
    [
        (http.client.BadStatusLine("garbage"), errors.RequestError),
        (ConnectionResetError(104, "reset"), errors.ConnectionError),
        (TimeoutError("timed out"), errors.ReadTimeout),
        (rex.ChunkedEncodingError("x"), errors.ChunkedEncodingError),
    ],
)
def test_mapped_errors_maps_low_level_exceptions(raised, cls) -> None:
    with pytest.raises(cls) as info, mapped_errors(Attempt(), error_for):
        raise raised
    assert info.value.__cause__ is raised
    assert info.value.failure is not None


@pytest.mark.parametrize(
    "raised",
    [
        zx.Fault("Account locked", code="soap:Client"),
        zx.TransportError("Server returned HTTP status 500", 500),
        zx.XMLSyntaxError("not XML"),
        KeyboardInterrupt(),
        ValueError("a caller's bug"),
        errors.SSLError("already soapguard's", report={"error.type": "tls.other"}),
        errors.DeadlineExceeded("deadline"),
    ],
)
def test_mapped_errors_lets_other_exceptions_pass_untouched(raised) -> None:
    with pytest.raises(type(raised)) as info, mapped_errors(Attempt(), error_for):
        raise raised
    assert info.value is raised
    assert info.value.__cause__ is None


def test_mapped_errors_is_a_no_op_without_an_exception() -> None:
    with mapped_errors(Attempt(), error_for):
        value = 42
    assert value == 42
