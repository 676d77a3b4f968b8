"""Optional OpenTelemetry spans: recorded with an SDK provider, a no-op without the API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from soapguard.diagnostics import CallContext
from soapguard.diagnostics import otel as _otel

CTX = CallContext(
    service="LedgerService",
    method="GetBalance",
    url="https://bob:s3cret@127.0.0.1:8443/ledger?token=t0k",
    idempotent=True,
    max_attempts=3,
)
EVENT = {
    "event": "soapguard.attempt_failed",
    "error.type": "tls.bad_record_mac",
    "error.origin": "local",
    "attempt": 1,
    "idempotent": True,
    "duration_ms": 12.5,
    "tls.cipher": None,
    "tls.recent_records_in": [517, 16408],
    "versions": {"python": "3.11"},
}


class Traces:
    """A private provider exporting to memory; the global provider is not touched."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def start(self, ctx: CallContext = CTX) -> _otel.CallSpan:
        return _otel.start_call_span(ctx, tracer_provider=self.provider)

    def one(self) -> ReadableSpan:
        (span,) = self.exporter.get_finished_spans()
        return span


@pytest.fixture
def traces() -> Iterator[Traces]:
    _otel._reset_cache()
    t = Traces()
    yield t
    t.provider.shutdown()
    _otel._reset_cache()


def test_failed_call_span(traces: Traces) -> None:
    span = traces.start()
    assert span.recording
    span.attempt_failed(EVENT)
    span.attempt_failed({**EVENT, "attempt": 2})
    span.end(ok=False, resend_count=1, error_type="tls.bad_record_mac")
    span.end(ok=True, resend_count=5, error_type=None)  # second end: ignored

    done = traces.one()
    assert done.name == "LedgerService/GetBalance"
    assert done.kind is SpanKind.CLIENT
    assert done.instrumentation_scope is not None
    assert done.instrumentation_scope.name == "soapguard"
    attrs = dict(done.attributes or {})
    assert attrs["rpc.system"] == "soap"
    assert attrs["rpc.service"] == "LedgerService"
    assert attrs["rpc.method"] == "GetBalance"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == 8443
    assert attrs["url.full"] == "https://***@127.0.0.1:8443/ledger?token=***"
    assert attrs["http.request.resend_count"] == 1
    assert attrs["error.type"] == "tls.bad_record_mac"
    assert done.status.status_code is StatusCode.ERROR

    assert [e.name for e in done.events] == ["soapguard.attempt_failed"] * 2
    first = dict(done.events[0].attributes or {})
    assert first["error.type"] == "tls.bad_record_mac"
    assert first["attempt"] == 1
    assert first["idempotent"] is True
    assert first["duration_ms"] == 12.5
    assert first["tls.recent_records_in"] == "[517, 16408]"
    assert "tls.cipher" not in first  # None dropped
    assert "versions" not in first
    assert dict(done.events[1].attributes or {})["attempt"] == 2


def test_successful_call_span(traces: Traces) -> None:
    traces.start().end(ok=True, resend_count=0, error_type=None)
    done = traces.one()
    attrs = dict(done.attributes or {})
    assert "http.request.resend_count" not in attrs
    assert "error.type" not in attrs
    assert done.status.status_code is not StatusCode.ERROR


def test_span_is_current_during_the_call(traces: Traces) -> None:
    before = trace.get_current_span()
    span = traces.start()
    current = trace.get_current_span().get_span_context()
    span.end(ok=True, resend_count=0, error_type=None)
    assert current.span_id == traces.one().context.span_id
    assert trace.get_current_span() is before


def test_span_name_and_port_without_service(traces: Traces) -> None:
    traces.start(CallContext(None, "Ping", "http://127.0.0.1/x", False, 1)).end(
        ok=True, resend_count=0, error_type=None
    )
    done = traces.one()
    assert done.name == "Ping"
    assert dict(done.attributes or {})["server.port"] == 80


def test_no_op_without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import now raises ImportError
    _otel._reset_cache()
    try:
        span = _otel.start_call_span(CTX)
        assert not span.recording
        span.attempt_failed(EVENT)
        span.end(ok=False, resend_count=2, error_type="tls.bad_record_mac")
        assert _otel._api is None  # the absence is cached
    finally:
        _otel._reset_cache()


def test_import_is_lazy_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    _otel._reset_cache()
    calls: list[str] = []
    real = _otel.importlib.import_module

    def counting(name: str) -> object:
        calls.append(name)
        return real(name)

    monkeypatch.setattr(_otel.importlib, "import_module", counting)
    assert calls == []
    for _ in range(3):
        _otel.start_call_span(CTX).end(ok=True, resend_count=0, error_type=None)
    assert calls == ["opentelemetry.trace", "opentelemetry.context"]
    _otel._reset_cache()


def test_importing_soapguard_does_not_import_opentelemetry() -> None:
    src = str(Path(_otel.__file__).resolve().parents[2])
    code = "import sys, soapguard.diagnostics.otel; sys.exit('opentelemetry' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": src}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0


def test_no_op_while_no_sdk_provider_is_configured() -> None:
    _otel._reset_cache()
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert not _otel.start_call_span(CTX).recording
    assert not _otel.start_call_span(CTX, tracer_provider=trace.NoOpTracerProvider()).recording


def test_global_sdk_provider_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    t = Traces()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: t.provider)
    span = _otel.start_call_span(CTX)
    assert span.recording
    span.end(ok=True, resend_count=0, error_type=None)
    assert t.one().name == "LedgerService/GetBalance"
