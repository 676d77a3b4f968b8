"""Diagnostic events: every required field, nulls for the unobserved, and their emission."""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from soapguard.classify.failure import Failure
from soapguard.config import Config
from soapguard.diagnostics import (
    FIELDS,
    LOGGER_NAME,
    SCHEMA_VERSION,
    CallContext,
    Emitter,
    attempt_event,
    call_event,
    versions,
)
from soapguard.transport.evidence import Attempt, ConnInfo, RecordStats

#: the required fields, written out on purpose: the test fails if the builder drops one
SPEC_FIELDS = """
event schema_version timestamp rpc.system rpc.service rpc.method url.full server.address
server.port network.peer.address attempt max_attempts idempotent error.type error.origin
error.message phase request_sent openssl.library openssl.reason tls.protocol.version tls.cipher
tls.resumed tls.max_send_fragment tls.max_fragment_length tls.caps_applied tls.records_in
tls.records_out tls.largest_record_in bytes_sent bytes_received connection.requests duration_ms
decision decision_reason backoff_ms hint versions process.pid
""".split()  # noqa: SIM905

#: facts that only a connection / record tracer can observe
OBSERVED_ONLY = """
network.peer.address tls.protocol.version tls.cipher tls.resumed tls.max_send_fragment
tls.max_fragment_length tls.caps_applied tls.records_in tls.records_out tls.largest_record_in
bytes_sent bytes_received connection.requests tls.recent_records_in tls.recent_records_out
tls.alert_in tls.alert_out connection.created_pid connection.reused
""".split()  # noqa: SIM905

CTX = CallContext(
    service="LedgerService",
    method="GetBalance",
    url="https://bob:pw-in-url@127.0.0.1:8443/ledger?token=t0k",
    idempotent=True,
    max_attempts=3,
)
MAC = Failure(
    type="tls.bad_record_mac",
    origin="local",
    message="[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed password=leaky1",
    phase="receive",
    request_sent="full",
    library="SSL",
    reason="DECRYPTION_FAILED_OR_BAD_RECORD_MAC",
)
REFUSED = Failure(type="connection.refused", origin=None, message="refused", phase="connect")


def observed_progress() -> Attempt:
    records = RecordStats()
    for size in (517, 16408, 16408, 901):
        records.record_in(size)
    records.record_out(340)
    records.alert_out = (2, 20)
    conn = ConnInfo(
        host="127.0.0.1",
        port=8443,
        peer_address="127.0.0.1",
        tls_version="1.2",  # as tls.describe_connection records it
        cipher="ECDHE-RSA-AES256-GCM-SHA384",
        resumed=False,
        caps_applied=True,
        max_send_fragment=16384,
        requests=1,
        records=records,
    )
    return Attempt(
        phase="receive",
        bytes_sent=340,
        request_complete=True,
        response_started=True,
        reused_connection=False,
        status=200,
        conn=conn,
    )


def build(failure: Failure = MAC, progress: Attempt | None = None, **kw: Any) -> dict[str, Any]:
    number = kw.pop("attempt", 1)
    attempt = progress if progress is not None else Attempt()
    attempt.number = number
    args: dict[str, Any] = {
        "decision": "retry",
        "decision_reason": "idempotent",
        "backoff_ms": 42.0,
        "duration_ms": 12.5,
        "config": Config(),
    }
    args.update(kw)
    return dict(attempt_event(CTX, attempt, failure, **args))


def test_field_list_covers_spec() -> None:
    assert set(SPEC_FIELDS) <= set(FIELDS)
    assert len(FIELDS) == len(set(FIELDS))


@pytest.mark.parametrize("progress", [None, Attempt(), observed_progress()])
def test_attempt_event_has_every_field(progress: Attempt | None) -> None:
    event = build(progress=progress)
    assert set(SPEC_FIELDS) <= set(event)
    assert set(FIELDS) <= set(event)
    json.dumps(event)  # plain JSON, no default= needed


def test_unobserved_facts_are_null_not_invented() -> None:
    event = build(REFUSED, progress=None, decision="raise", decision_reason="non_retryable")
    for name in OBSERVED_ONLY:
        assert event[name] is None, name
    assert event["error.origin"] is None
    assert event["openssl.library"] is None
    # known from the call itself
    assert event["server.address"] == "127.0.0.1"
    assert event["server.port"] == 8443


def test_progress_without_connection() -> None:
    event = build(REFUSED, progress=Attempt(phase="handshake"))
    assert event["bytes_sent"] == 0
    assert event["tls.cipher"] is None
    assert event["bytes_received"] is None


def test_an_attempt_nothing_observed_reports_no_byte_counts() -> None:
    # e.g. behind a mocked transport: zero bytes would be a guess, not an observation
    event = build(REFUSED, progress=Attempt())
    assert event["bytes_sent"] is None
    assert event["endpoint.index"] == 0


def test_connection_without_record_tracer_leaves_record_fields_null() -> None:
    progress = observed_progress()
    assert progress.conn is not None
    progress.conn.records = None
    event = build(progress=progress)
    assert event["tls.cipher"] == "ECDHE-RSA-AES256-GCM-SHA384"
    for name in ("tls.records_in", "tls.largest_record_in", "bytes_received", "tls.alert_out"):
        assert event[name] is None, name


def test_observed_facts_are_copied() -> None:
    event = build(progress=observed_progress())
    assert event["tls.protocol.version"] == "1.2"
    assert event["tls.cipher"] == "ECDHE-RSA-AES256-GCM-SHA384"
    assert event["tls.resumed"] is False
    assert event["tls.caps_applied"] is True
    assert event["tls.max_send_fragment"] == 16384
    assert event["tls.max_fragment_length"] is None
    assert event["tls.records_in"] == 4
    assert event["tls.records_out"] == 1
    assert event["tls.largest_record_in"] == 16408
    assert event["tls.recent_records_in"] == [517, 16408, 16408, 901]
    assert event["tls.alert_out"] == "fatal:bad_record_mac"
    assert event["tls.alert_in"] is None
    assert event["bytes_sent"] == 340
    assert event["bytes_received"] == 517 + 16408 * 2 + 901
    assert event["connection.requests"] == 1
    assert event["connection.created_pid"] == os.getpid()
    assert event["connection.reused"] is False
    assert event["network.peer.address"] == "127.0.0.1"
    assert event["http.response.status_code"] == 200


def test_call_facts_and_decision() -> None:
    event = build(progress=observed_progress(), attempt=2)
    assert event["event"] == "soapguard.attempt_failed"
    assert event["schema_version"] == SCHEMA_VERSION == 2
    assert event["rpc.system"] == "soap"
    assert event["rpc.service"] == "LedgerService"
    assert event["rpc.method"] == "GetBalance"
    assert event["attempt"] == 2
    assert event["max_attempts"] == 3
    assert event["idempotent"] is True
    assert (event["error.type"], event["error.origin"]) == ("tls.bad_record_mac", "local")
    assert (event["phase"], event["request_sent"]) == ("receive", "full")
    assert event["openssl.reason"] == "DECRYPTION_FAILED_OR_BAD_RECORD_MAC"
    assert (event["decision"], event["decision_reason"]) == ("retry", "idempotent")
    assert (event["backoff_ms"], event["duration_ms"]) == (42.0, 12.5)
    assert event["process.pid"] == os.getpid()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["timestamp"])


def test_secrets_are_masked() -> None:
    event = build(progress=observed_progress())
    assert event["url.full"] == "https://***@127.0.0.1:8443/ledger?token=***"
    assert "leaky1" not in event["error.message"]
    assert "DECRYPTION_FAILED_OR_BAD_RECORD_MAC" in event["error.message"]
    assert "pw-in-url" not in json.dumps(event)


def test_hint_is_computed_from_the_event() -> None:
    event = build(progress=observed_progress())
    assert "SOAPGUARD_MAX_RECORD_SIZE=4096" in event["hint"]
    assert "Nothing is listening on" in build(REFUSED)["hint"]
    fault = Failure(type="soap.fault", origin=None, message="Server.Busy", phase="receive")
    assert build(fault)["hint"] is None  # a SOAP fault is the application's business


def test_versions() -> None:
    v = versions()
    assert set(v) == {"python", "openssl", "zeep", "requests", "urllib3", "httpx", "soapguard"}
    assert v["python"] == platform.python_version()
    assert v["zeep"] is not None
    assert v["soapguard"] is not None
    assert build()["versions"] == v


def test_call_event_failed_and_recovered() -> None:
    first = build(REFUSED, attempt=1)
    last = build(progress=observed_progress(), attempt=2, decision="raise")
    failed = call_event("soapguard.call_failed", CTX, attempts=[first, last], duration_ms=99.0)
    assert set(SPEC_FIELDS) <= set(failed)
    assert failed["event"] == "soapguard.call_failed"
    assert failed["attempt"] == 2
    assert failed["error.types"] == ["connection.refused", "tls.bad_record_mac"]
    assert failed["error.type"] == "tls.bad_record_mac"
    assert failed["tls.cipher"] == "ECDHE-RSA-AES256-GCM-SHA384"
    assert failed["decision"] == "raise"
    assert failed["hint"] == last["hint"]
    assert failed["duration_ms"] == 99.0
    assert "attempts" not in failed

    recovered = call_event("soapguard.call_recovered", CTX, attempts=[first], duration_ms=5.0)
    assert recovered["attempt"] == 2  # one failure, then the success
    assert recovered["error.type"] == "connection.refused"
    assert recovered["event"] == "soapguard.call_recovered"


def test_call_event_without_attempts() -> None:
    event = call_event("soapguard.call_failed", CTX, attempts=[], duration_ms=1.0)
    assert event["attempt"] == 0
    assert event["error.type"] is None
    assert set(SPEC_FIELDS) <= set(event)


# -- emission ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "decision", "level"),
    [
        ("soapguard.attempt_failed", "retry", logging.WARNING),
        ("soapguard.attempt_failed", "raise", logging.INFO),  # its call event says it at ERROR
        ("soapguard.call_recovered", "retry", logging.WARNING),
        ("soapguard.call_failed", "raise", logging.ERROR),
    ],
)
def test_emitter_levels_and_record_attribute(
    caplog: pytest.LogCaptureFixture, kind: str, decision: str, level: int
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    event = build(progress=observed_progress(), decision=decision)
    event["event"] = kind
    Emitter(Config()).emit(event)
    (record,) = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert record.levelno == level
    assert record.soapguard is event  # type: ignore[attr-defined]
    message = record.getMessage()
    for part in (kind, "GetBalance", "tls.bad_record_mac (local) during receive"):
        assert part in message
    # a recovered call reports its last failure, not the decision taken on it
    assert (f"decision={decision}" in message) is (kind != "soapguard.call_recovered")
    assert "hint: " in message
    assert "\n" not in message


def test_diagnostics_file_lines_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    emitter = Emitter(Config(diagnostics_file=str(path)))
    threads, per_thread = 8, 40
    start = threading.Barrier(threads)
    big = "x" * 6000  # lines larger than a pipe buffer's atomic size

    def worker(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            event = build(progress=observed_progress(), attempt=i)
            event["rpc.method"] = f"T{n}"
            event["error.message"] = big
            emitter.emit(event)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    lines = path.read_text().splitlines()
    assert len(lines) == threads * per_thread
    parsed = [json.loads(line) for line in lines]
    for n in range(threads):
        assert sorted(e["attempt"] for e in parsed if e["rpc.method"] == f"T{n}") == list(
            range(per_thread)
        )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_diagnostics_file_shared_by_a_forked_child(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    emitter = Emitter(Config(diagnostics_file=str(path)))
    emitter.emit(build())
    pid = os.fork()
    if pid == 0:  # child: emit and leave without running pytest's teardown
        code = 0
        try:
            for _ in range(20):
                emitter.emit(build())
        except BaseException:
            code = 1
        os._exit(code)
    for _ in range(20):
        emitter.emit(build())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    pids = [json.loads(line)["process.pid"] for line in path.read_text().splitlines()]
    assert len(pids) == 41
    assert pids.count(pid) == 20


def test_unwritable_file_warns_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    secret_dir = tmp_path / "no-such-dir-s3cret"
    emitter = Emitter(Config(diagnostics_file=str(secret_dir / "events.jsonl")))
    for _ in range(3):
        emitter.emit(build())
    warnings = [r for r in caplog.records if "DIAGNOSTICS_FILE" in r.getMessage()]
    assert len(warnings) == 1
    assert "s3cret" not in caplog.text  # the path is not echoed


def test_on_event_hook_gets_a_copy_and_its_errors_are_swallowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[dict[str, Any]] = []

    def hook(event: dict[str, Any]) -> None:
        seen.append(event)
        event["error.type"] = "mutated"
        raise RuntimeError("hook bug")

    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    event = build()
    Emitter(Config(on_event=hook)).emit(event)
    assert seen[0]["rpc.method"] == "GetBalance"
    assert event["error.type"] == "tls.bad_record_mac"
    failures = [r for r in caplog.records if r.exc_info and r.name == LOGGER_NAME]
    assert len(failures) == 1
    assert "hook bug" in caplog.text


def test_every_field_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    missing = [name for name in FIELDS if f"`{name}`" not in doc]
    assert missing == []
