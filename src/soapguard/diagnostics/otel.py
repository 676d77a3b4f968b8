"""Optional OpenTelemetry tracing: one CLIENT span per call, one span event per failed attempt.

``opentelemetry-api`` is an optional dependency (``pip install soapguard[otel]``).
It is imported lazily on the first call and the outcome cached, so a process
without it pays nothing and gets a no-op :class:`CallSpan`.  Whether spans are
recorded and exported is the application's business (its ``TracerProvider``);
without one, the API's own no-op tracer is used.

The span is made current while the call runs, so spans of instrumented HTTP
libraries nest under it.  Nothing here may break a call: tracing errors are
logged at DEBUG and swallowed.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from .._urls import origin
from ..transport.evidence import CallContext

__all__ = ["CallSpan", "start_call_span"]

logger = logging.getLogger(__name__)

_UNSET: Any = object()
_api: Any = _UNSET  # (trace, context) modules, or None when opentelemetry is absent
_api_lock = threading.Lock()
#: event fields not copied onto span events (constant per process, or the event name itself)
_SKIP = frozenset({"event", "versions"})


def _load() -> tuple[ModuleType, ModuleType] | None:
    global _api
    if _api is _UNSET:
        with _api_lock:
            if _api is _UNSET:
                try:
                    _api = (
                        importlib.import_module("opentelemetry.trace"),
                        importlib.import_module("opentelemetry.context"),
                    )
                except ImportError:
                    _api = None
    loaded: tuple[ModuleType, ModuleType] | None = _api
    return loaded


def _reset_cache() -> None:
    """Forget whether opentelemetry is importable (for tests)."""
    global _api
    with _api_lock:
        _api = _UNSET


def _attribute(value: Any) -> str | bool | int | float | None:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def span_attributes(fields: Mapping[str, Any]) -> dict[str, str | bool | int | float]:
    """Event fields as OpenTelemetry attributes: ``None`` dropped, containers as JSON text."""
    out: dict[str, str | bool | int | float] = {}
    for key, value in fields.items():
        if key in _SKIP:
            continue
        converted = _attribute(value)
        if converted is not None:
            out[key] = converted
    return out


class CallSpan:
    """The span of one call.  With ``span=None`` every method does nothing."""

    def __init__(self, span: Any = None, trace: Any = None, context: Any = None) -> None:
        self._span = span
        self._trace = trace
        self._context = context
        self._token: Any = None
        self._ended = False
        if span is not None and context is not None:
            self._token = context.attach(trace.set_span_in_context(span))

    @property
    def recording(self) -> bool:
        return self._span is not None

    def attempt_failed(self, event: Mapping[str, Any]) -> None:
        """Add a ``soapguard.attempt_failed`` span event carrying the event's fields."""
        if self._span is None or self._ended:
            return
        try:
            self._span.add_event("soapguard.attempt_failed", attributes=span_attributes(event))
        except Exception:
            logger.debug("could not add a span event", exc_info=True)

    def end(self, *, ok: bool, resend_count: int, error_type: str | None) -> None:
        """Record the outcome and end the span (later calls do nothing)."""
        if self._span is None or self._ended:
            return
        self._ended = True
        try:
            if resend_count > 0:
                self._span.set_attribute("http.request.resend_count", resend_count)
            if error_type:
                self._span.set_attribute("error.type", error_type)
            if not ok:
                status = self._trace.Status(self._trace.StatusCode.ERROR, error_type)
                self._span.set_status(status)
            self._span.end()
        except Exception:
            logger.debug("could not end the call span", exc_info=True)
        finally:
            if self._token is not None:
                try:
                    self._context.detach(self._token)
                except Exception:
                    logger.debug("could not detach the span context", exc_info=True)

    def __enter__(self) -> CallSpan:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.end(ok=exc is None, resend_count=0, error_type=type(exc).__name__ if exc else None)


def _call_attributes(ctx: CallContext) -> dict[str, str | bool | int | float]:
    target = origin(ctx.url)
    return span_attributes(
        {
            "rpc.system": "soap",
            "rpc.service": ctx.service,
            "rpc.method": ctx.method,
            "server.address": target.host or None,
            "server.port": target.port,
            "url.full": _redact_url(ctx.url),
        }
    )


def start_call_span(ctx: CallContext, *, tracer_provider: Any = None) -> CallSpan:
    """Start the CLIENT span of a call (named ``service/method``), or a no-op one.

    ``tracer_provider`` defaults to the global one, as in OpenTelemetry's own
    instrumentations.
    """
    api = _load()
    if api is None:
        return CallSpan()
    trace, context = api
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        # API installed but no SDK configured: every span would be a no-op, so skip the
        # work (a few hundred microseconds per call) -- until a provider is set
        return CallSpan()
    name = "/".join(p for p in (ctx.service, ctx.method) if p) or "soap"
    try:
        from .. import __version__

        tracer = trace.get_tracer("soapguard", __version__, tracer_provider=provider)
        span = tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=_call_attributes(ctx))
        return CallSpan(span, trace, context)
    except Exception:
        logger.debug("could not start a call span", exc_info=True)
        return CallSpan()


def _redact_url(url: str) -> str:
    from .redact import redact_url  # spans are recorded: an OpenTelemetry SDK is installed

    return redact_url(url)
