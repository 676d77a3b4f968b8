"""Connection lifecycle without sockets: pool policy, wire shape, classification, events."""

from __future__ import annotations

import io
from typing import Any

import pytest
import requests.exceptions as rex
import urllib3.exceptions as u3

from soapguard import Config, ConfigError
from soapguard.classify import TYPES, classify
from soapguard.diagnostics.events import attempt_event
from soapguard.errors import ConnectTimeout, DeadlineExceeded, PoolTimeout, error_for
from soapguard.retry.rules import decide
from soapguard.transport.connection import AGE_JITTER, PoolPolicy, PoolTimeoutError
from soapguard.transport.deadline import ConnectionDeadline
from soapguard.transport.evidence import Attempt, CallContext, ConnInfo
from soapguard.transport.wire import wire_shape

POLICY = PoolPolicy(idle_timeout=30.0, max_age=None, maxsize=10, connect_timeout=10.0)
CTX = CallContext(
    service="S", method="Transfer", url="https://h:1/x", idempotent=False, max_attempts=3
)


# -- the pool policy ---------------------------------------------------------------------------


def test_an_idle_connection_is_reusable_until_the_idle_timeout() -> None:
    info = ConnInfo(host="h", port=1, created_at=0.0, idle_since=100.0)
    assert POLICY.reusable(info, now=130.0)
    assert not POLICY.reusable(info, now=130.001)


def test_a_connection_in_use_or_never_idle_has_no_idle_limit() -> None:
    assert POLICY.reusable(ConnInfo(host="h", port=1, created_at=0.0, idle_since=None), 1e6)


def test_maximum_age_is_jittered_per_connection_within_ten_percent() -> None:
    aged = PoolPolicy(idle_timeout=30.0, max_age=100.0, maxsize=10, connect_timeout=10.0)
    assert POLICY.retire_at(5.0) is None
    draws = {aged.retire_at(5.0) for _ in range(200)}
    low, high = (5.0 + 100.0 * factor for factor in AGE_JITTER)
    assert all(d is not None and low <= d <= high for d in draws)
    assert len(draws) > 100  # not one value for the whole fleet
    info = ConnInfo(host="h", port=1, created_at=5.0, idle_since=100.0, retire_at=104.0)
    assert aged.reusable(info, now=103.9)
    assert not aged.reusable(info, now=104.0)


def test_policy_of_a_config() -> None:
    cfg = Config(pool_idle_timeout=4.5, pool_max_age=60.0, pool_maxsize=3, connect_timeout=2.0)
    assert PoolPolicy.of(cfg) == PoolPolicy(4.5, 60.0, 3, 2.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SOAPGUARD_POOL_IDLE_TIMEOUT", "-1"),
        ("SOAPGUARD_POOL_IDLE_TIMEOUT", "abc"),
        ("SOAPGUARD_POOL_IDLE_TIMEOUT", "0"),
        ("SOAPGUARD_POOL_MAXSIZE", "0"),
        ("SOAPGUARD_POOL_MAXSIZE", "2.5"),
        ("SOAPGUARD_POOL_MAX_AGE", "-3"),
    ],
)
def test_bad_pool_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        Config.from_env()
    assert name in str(raised.value)
    assert [n for n, _ in raised.value.problems] == [name]


# -- wire shape --------------------------------------------------------------------------------


def test_a_bytes_body_passes_unchanged() -> None:
    headers = {"Content-Type": "text/xml", "Content-Length": "3"}
    body, shaped = wire_shape(b"abc", headers, chunked=False)
    assert body == b"abc"
    assert shaped is headers  # the common case costs no copy


@pytest.mark.parametrize("name", ["Expect", "expect", "Transfer-Encoding"])
def test_expect_and_transfer_encoding_are_never_sent(name: str) -> None:
    value = "100-continue" if name.lower() == "expect" else "chunked"
    _, shaped = wire_shape(b"abc", {name: value, "SOAPAction": '"x"'}, chunked=False)
    assert {k.lower() for k in shaped} == {"soapaction", "content-length"}
    assert shaped["Content-Length"] == "3"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda: iter([b"<a>", "é", b"</a>"]), id="iterable"),
        pytest.param(lambda: io.BytesIO("<a>é</a>".encode()), id="file"),
        pytest.param(lambda: (p for p in [b"<a>", "é", b"</a>"]), id="generator"),
    ],
)
def test_a_streamed_body_is_read_and_sent_with_its_length(body: Any) -> None:
    data, shaped = wire_shape(body(), {"content-length": "999"}, chunked=True)
    assert data == "<a>é</a>".encode()
    assert shaped == {"Content-Length": str(len(data))}


def test_a_chunked_flag_without_a_body_becomes_an_empty_length() -> None:
    assert wire_shape(None, {}, chunked=True) == (None, {"Content-Length": "0"})


# -- classification and the rules ----------------------------------------------------------------


def test_timeout_pool_is_in_the_taxonomy_and_was_not_sent() -> None:
    assert "timeout.pool" in TYPES
    exc = PoolTimeoutError(None, "no connection became free within 0.3 s")  # type: ignore[arg-type]
    failure = classify(exc, Attempt())
    assert (failure.type, failure.phase, failure.request_sent) == (
        "timeout.pool",
        "connect",
        "none",
    )
    assert failure.outcome == "failed"
    plain = classify(u3.EmptyPoolError(None, "Pool is empty"), Attempt())  # type: ignore[arg-type]
    assert plain.type == "timeout.pool"
    decision = decide(failure, idempotent=False, attempt=1, max_attempts=3, remaining=10, sleep=0.1)
    assert (decision.retry, decision.reason) == (True, "not_sent")


def test_timeout_pool_is_raised_as_a_connect_timeout() -> None:
    exc = PoolTimeoutError(None, "busy")  # type: ignore[arg-type]
    err = error_for(classify(exc, Attempt()), exc)
    assert isinstance(err, PoolTimeout)
    assert isinstance(err, ConnectTimeout)
    assert isinstance(err, rex.ConnectTimeout)


def test_a_read_cut_short_at_the_deadline_is_timeout_deadline() -> None:
    attempt = Attempt(phase="receive", request_complete=True, response_started=True, bytes_sent=9)
    wrapped = rex.ConnectionError(u3.ReadTimeoutError(None, None, "Read timed out."))  # type: ignore[arg-type]
    wrapped.args[0].__cause__ = ConnectionDeadline("deadline reached")
    failure = classify(wrapped, attempt)
    assert failure.type == "timeout.deadline"
    assert (failure.phase, failure.request_sent) == ("receive", "full")
    assert isinstance(error_for(failure, wrapped), DeadlineExceeded)
    # the same read timeout without the deadline's mark stays a read timeout
    plain = rex.ConnectionError(u3.ReadTimeoutError(None, None, "Read timed out."))  # type: ignore[arg-type]
    assert classify(plain, attempt).type == "timeout.read"


# -- events ------------------------------------------------------------------------------------


def test_events_carry_idle_and_age_of_the_connection() -> None:
    conn = ConnInfo(host="h", port=1, requests=3)
    attempt = Attempt(
        phase="wait",
        request_complete=True,
        bytes_sent=10,
        conn=conn,
        reused_connection=True,
        idle_before=1.6345,
        connection_age=12.0,
    )
    failure = classify(ConnectionResetError(104, "reset"), attempt)
    event = attempt_event(
        CTX,
        attempt,
        failure,
        decision="raise",
        decision_reason="not_idempotent",
        backoff_ms=None,
        duration_ms=1.0,
        config=Config(pool_idle_timeout=30.0),
    )
    assert event["connection.reused"] is True
    assert event["connection.idle_ms"] == 1634.5
    assert event["connection.age_ms"] == 12000.0
    assert event["config.pool_idle_timeout"] == 30.0
    assert "1.6 s" in (event["hint"] or "")
    assert "SOAPGUARD_POOL_IDLE_TIMEOUT" in (event["hint"] or "")
