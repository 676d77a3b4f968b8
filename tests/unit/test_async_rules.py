"""The async client's pieces that need no socket: httpx classification, its error family,
the cancellation event, and a sync client that never needs httpx."""

from __future__ import annotations

import asyncio
import itertools
import pickle
import ssl
import subprocess
import sys
import textwrap
from typing import Any

import h11
import httpcore
import httpx
import pytest

import soapguard
from soapguard import async_errors
from soapguard.classify import classify
from soapguard.config import Config
from soapguard.retry.loop import Runner
from soapguard.transport.evidence import Attempt, CallContext


def chained(*excs: BaseException) -> BaseException:
    """``excs[0]`` raised from ``excs[1]`` raised from ... (as httpx chains them)."""
    for outer, inner in itertools.pairwise(excs):
        outer.__cause__ = inner
    return excs[0]


def observed(phase: str, *, complete: bool = False) -> Attempt:
    attempt = Attempt(number=1, endpoint="https://svc.example/x", phase=phase)  # type: ignore[arg-type]
    attempt.bytes_sent = 100 if phase in ("send", "wait", "receive") else 0
    attempt.request_complete = complete
    return attempt


@pytest.mark.parametrize(
    ("exc", "attempt", "expected"),
    [
        (httpx.PoolTimeout("busy"), None, ("timeout.pool", "none", "connect")),
        (chained(httpx.ConnectTimeout(""), httpcore.ConnectTimeout(""), TimeoutError()),
         observed("handshake"), ("timeout.connect", "none", "handshake")),
        (chained(httpx.ReadTimeout(""), httpcore.ReadTimeout(""), TimeoutError()),
         observed("wait", complete=True), ("timeout.read", "full", "wait")),
        (httpx.ReadTimeout("mocked"), None, ("timeout.read", "full", None)),
        (chained(httpx.RemoteProtocolError("Server disconnected without sending a response.")),
         observed("wait", complete=True), ("connection.reset", "full", "wait")),
        (chained(httpx.ReadError(""), httpcore.ReadError(""), ConnectionResetError(104, "reset")),
         observed("wait", complete=True), ("connection.reset", "full", "wait")),
        (httpx.DecodingError("bad gzip"), observed("receive", complete=True),
         ("response.invalid", "full", "receive")),
        (chained(httpx.ConnectError("All connection attempts failed"), OSError("nope")),
         observed("connect"), ("connection.refused", "none", "connect")),
        (chained(httpx.ConnectError("x"), httpcore.ConnectError("x"),
                 ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] failed")),
         observed("handshake"), ("tls.certificate", "none", "handshake")),
    ],
    ids=["pool", "connect-timeout", "read-timeout", "bare-read-timeout", "no-response",
         "reset", "decoding", "refused", "certificate"],
)  # fmt: skip
def test_httpx_failures_are_classified(
    exc: BaseException, attempt: Attempt | None, expected: tuple[str, str, str | None]
) -> None:
    failure = classify(exc, attempt)
    assert (failure.type, failure.request_sent, failure.phase) == expected


def test_a_body_cut_short_over_tls_is_an_unexpected_eof() -> None:
    exc = chained(
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        h11.RemoteProtocolError("peer closed connection without sending complete message body"),
    )
    attempt = observed("receive", complete=True)
    assert classify(exc, attempt).type == "connection.reset"  # plain HTTP
    attempt.conn = soapguard.transport.evidence.ConnInfo("svc.example", 443, tls_version="1.3")
    assert classify(exc, attempt).type == "tls.unexpected_eof"


@pytest.mark.parametrize(
    ("error_type", "original", "cls", "bare"),
    [
        ("tls.bad_record_mac", ssl.SSLError(1, "bad mac"), async_errors.SSLError, ssl.SSLError),
        # a tls.* failure httpx wrapped is both httpx's class and ssl.SSLError
        ("tls.certificate", httpx.ConnectError("x"), async_errors.TLSConnectError,
         httpx.ConnectError),
        ("tls.bad_record_mac", httpx.ReadError("x"), async_errors.TLSReadError, httpx.ReadError),
        ("tls.unexpected_eof", httpx.WriteError("x"), async_errors.TLSWriteError,
         httpx.WriteError),
        ("timeout.read", httpx.ReadTimeout("x"), async_errors.ReadTimeout, httpx.ReadTimeout),
        ("timeout.pool", httpx.PoolTimeout("x"), async_errors.PoolTimeout, httpx.PoolTimeout),
        ("connection.reset", httpx.ReadError("x"), async_errors.ReadError, httpx.ReadError),
        ("timeout.deadline", httpx.ReadTimeout("x"), async_errors.DeadlineExceeded,
         httpx.TimeoutException),
        ("connection.reset", ConnectionResetError(104, "x"), async_errors.ReadError,
         httpx.NetworkError),
    ],
)  # fmt: skip
def test_error_family_is_the_one_bare_zeep_async_raises(
    error_type: str, original: BaseException, cls: type[Exception], bare: type[Exception]
) -> None:
    failure = soapguard.classify.Failure(
        error_type, None, "msg", phase="wait", request_sent="full", reason="R", library="SSL"
    )
    err = async_errors.error_for(failure, original)
    assert type(err) is cls
    assert isinstance(err, bare)
    assert isinstance(err, soapguard.SoapGuardError)
    assert err.failure is failure
    assert str(err).startswith(error_type)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is cls
    assert str(again) == str(err)
    if error_type.startswith("tls."):
        assert isinstance(err, ssl.SSLError)
        assert (err.library, err.reason) == ("SSL", "R")


def _cancelled_call(idempotent: bool, sent: bool) -> tuple[list[dict[str, Any]], BaseException]:
    events: list[dict[str, Any]] = []
    runner = Runner(Config(on_event=events.append), error_for=async_errors.error_for)
    ctx = CallContext("Svc", "Transfer", "https://svc.example/x", idempotent, 3)
    cancel = asyncio.CancelledError()

    async def send(attempt: Attempt) -> None:
        attempt.entered = True
        if sent:
            attempt.phase, attempt.bytes_sent, attempt.request_complete = "wait", 500, True
        raise cancel

    with pytest.raises(asyncio.CancelledError) as info:
        asyncio.run(runner.run_async(ctx, send))
    return events, info.value


def test_a_write_cancelled_after_sending_emits_call_cancelled_outcome_unknown() -> None:
    events, raised = _cancelled_call(idempotent=False, sent=True)
    assert type(raised) is asyncio.CancelledError  # never replaced, never retried
    assert [e["event"] for e in events] == ["soapguard.call_cancelled"]
    event = events[0]
    assert (event["outcome"], event["request_sent"], event["error.type"]) == (
        "unknown", "full", None
    )  # fmt: skip
    assert event["hint"] is not None


@pytest.mark.parametrize(("idempotent", "sent"), [(True, True), (False, False)])
def test_other_cancellations_are_silent(idempotent: bool, sent: bool) -> None:
    events, _ = _cancelled_call(idempotent, sent)
    assert events == []


def test_the_sync_client_needs_no_httpx(tmp_path: Any) -> None:
    """With httpx impossible to import, the sync client builds, classifies and raises."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["httpx"] = None  # import httpx now raises ImportError
        import soapguard
        from soapguard.classify import classify
        from soapguard.testing.ledger import wsdl_dir
        client = soapguard.Client(str(wsdl_dir() / "ledger.wsdl"))
        assert classify(ConnectionResetError(104, "x")).type == "connection.reset"
        try:
            soapguard.AsyncClient
        except ImportError:
            print("async needs httpx")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "async needs httpx" in done.stdout


def test_the_async_circuit_open_error_is_httpx_and_soapguard_alike() -> None:
    import httpx

    import soapguard
    from soapguard import async_errors
    from soapguard.classify.failure import Failure

    err = async_errors.error_for(
        Failure("circuit.open", None, "open", request_sent="none"), OSError()
    )
    assert isinstance(err, httpx.ConnectError)
    assert isinstance(err, soapguard.CircuitOpenError)
    assert isinstance(err, soapguard.SoapGuardError)
