"""Repeated real calls for ``soapguard probe --call``: failure counts per candidate setting.

Each candidate is a :class:`~soapguard.Config` variant (the current settings,
record caps, another profile).  Calls go through a real
:class:`soapguard.Client` built from the probed URL as its WSDL, with retries
off (``max_attempts=1``) so every failure is visible, each classified by
:func:`soapguard.classify.classify`.  The run is bounded by ``repeat`` and by
the probe's overall deadline.  A WSDL that cannot be loaded is recorded as the
candidate's classified ``setup_error`` (see :mod:`soapguard.cli._failure`).
"""

from __future__ import annotations

import collections
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from ...classify.core import classify
from ...config import Config
from ...diagnostics.record_size import lower_caps
from .._failure import describe

MAX_REPEAT = 1000


class UsageError(Exception):
    """The operation or its arguments do not fit the service (exit 2)."""


@dataclass
class Candidate:
    name: str
    #: the Config fields changed from the current settings
    settings: dict[str, Any]
    config: Config
    calls: int = 0
    ok: int = 0
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    #: why the WSDL could not be loaded with these settings (a described failure), if so
    setup_error: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "settings": self.settings,
            "calls": self.calls,
            "ok": self.ok,
            "failures": dict(self.failures),
            "setup_error": self.setup_error,
        }


class Progress:
    """A ``\\r``-updated status line on ``stream`` (only when enabled)."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self._width = 0

    def update(self, text: str) -> None:
        if not self.enabled:
            return
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def done(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def candidate(name: str, base: Config, timeout: float, **changes: Any) -> Candidate:
    """A candidate: ``base`` with ``changes``, no retries, per-call timeouts bounded."""
    config = dataclasses.replace(
        base,
        **changes,
        max_attempts=1,
        connect_timeout=min(base.connect_timeout, timeout),
        read_timeout=min(base.read_timeout, timeout),
        deadline=min(base.deadline, 2 * timeout + 1),
        diagnostics_file=None,  # a probe's failures are not the service's
        on_event=None,
    )
    return Candidate(name, dict(changes), config)


def candidates(base: Config, handshakes: list[dict[str, Any]], timeout: float) -> list[Candidate]:
    """The current settings, the next two record caps below the one in effect (4096 and
    2048 without one: never a larger cap), and any other profile that works and negotiates
    something different (by the probe's handshake rows)."""
    rows = {(row["kind"], row["name"]): row for row in handshakes}
    current = rows.get(("current", "current"), {})
    out = [candidate("current", base, timeout)]
    for cap in lower_caps(base.max_record_size)[:2]:
        out.append(candidate(f"record cap {cap}", base, timeout, max_record_size=cap))
    for profile in ("intermediate", "legacy"):
        row = rows.get(("profile", profile), {})
        negotiated = (row.get("tls_version"), row.get("cipher"))
        differs = negotiated != (current.get("tls_version"), current.get("cipher"))
        if profile != base.tls_profile and row.get("ok") and differs:
            out.append(candidate(f"profile {profile}", base, timeout, tls_profile=profile))
    return out


def run(
    url: str,
    operation: str,
    kwargs: dict[str, Any],
    candidates: list[Candidate],
    repeat: int,
    deadline: float,
    progress: Progress,
) -> bool:
    """Call ``operation(**kwargs)`` ``repeat`` times per candidate; False if time ran out."""
    import soapguard

    for number, cand in enumerate(candidates, start=1):
        label = f"[{number}/{len(candidates)}] {cand.name}"
        try:
            client = soapguard.Client(url, config=cand.config)
        except Exception as exc:  # the WSDL cannot be loaded with these settings
            cand.setup_error = _wsdl_failure(exc)
            continue
        try:
            call = _operation(client, operation)
            for _ in range(repeat):
                if time.monotonic() >= deadline:
                    return False
                progress.update(
                    f"{label}: {cand.calls}/{repeat} calls, {cand.calls - cand.ok} failed"
                )
                cand.calls += 1
                try:
                    call(**kwargs)
                except TypeError as exc:  # zeep: arguments that do not fit the operation
                    if cand.calls == 1 and number == 1:
                        raise UsageError(f"arguments do not fit {operation}: {exc}") from None
                    cand.failures["response.invalid"] += 1
                except Exception as exc:
                    cand.failures[_failure_type(exc)] += 1
                else:
                    cand.ok += 1
        finally:
            client.transport.close()
            progress.done()
    return True


def _operation(client: Any, operation: str) -> Any:
    try:
        return client.service[operation]
    except AttributeError:
        names = sorted(client.service._operations)
        raise UsageError(
            f"the service has no operation {operation!r}; it has: {', '.join(names)}"
        ) from None


def _failure_type(exc: BaseException) -> str:
    """The client's own verdict on this call (its ``.report``, judged from the attempt's
    evidence, such as a declined renegotiation), else the exception's classification."""
    report = getattr(exc, "report", None)
    kind = report.get("error.type") if isinstance(report, dict) else None
    return kind if isinstance(kind, str) else classify(exc).type


def _wsdl_failure(exc: BaseException) -> dict[str, Any]:
    """The classified failure of loading the WSDL, with the next step where the events
    have no hint for it (an HTTP error status: the URL is likely not the WSDL's)."""
    failure = describe(exc)
    if not failure.get("hint") and failure.get("error.type") == "http.status":
        failure["hint"] = (
            "The server answered the GET of the WSDL with an HTTP error, so check that the "
            "URL is the service's WSDL (often its address followed by ?wsdl)."
        )
    return failure
