"""Where diagnostic events go: the ``soapguard.diagnostics`` logger, a JSON-lines file, a hook.

:class:`Emitter` sends each event to the logger (see :func:`_level` for the levels;
the event dict as the record attribute ``soapguard``), to ``SOAPGUARD_DIAGNOSTICS_FILE``
as one JSON line, and to ``Config.on_event``.  Emitting never raises into a call.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from ..config import Config, env_name, ignored_env
from ..errors import headline

__all__ = ["LOGGER_NAME", "Emitter", "config_origin"]

#: the documented logger name (not this module's: operators configure it by that name)
LOGGER_NAME = "soapguard.diagnostics"
logger = logging.getLogger(LOGGER_NAME)


def _level(event: Mapping[str, Any]) -> int:
    """A failure is logged once at its final level: the last attempt's event is INFO (its
    call event says it at ERROR), a business SOAP fault is the application's, WARNING."""
    kind = event.get("event")
    if kind == "soapguard.attempt_failed":
        return logging.WARNING if event.get("decision") == "retry" else logging.INFO
    if kind == "soapguard.call_cancelled":
        return logging.WARNING
    if kind == "soapguard.call_failed":
        return logging.WARNING if event.get("error.type") == "soap.fault" else logging.ERROR
    if kind in (
        "soapguard.call_recovered",
        "soapguard.circuit_opened",
        "soapguard.certificate_expiring",
    ):
        return logging.WARNING
    return logging.INFO


def _summary(event: Mapping[str, Any]) -> str:
    """One line: what was called, what failed where, what soapguard did about it, the hint."""
    kind = event.get("event")
    if kind in ("soapguard.circuit_opened", "soapguard.circuit_closed"):
        counted = f"{event.get('failures')} of {event.get('calls')} calls failed"
        if kind == "soapguard.circuit_opened":
            wait = f"next probe in {event.get('open_seconds')}s"
            return f"{kind} {event.get('url.full')}: {counted}; {wait}"
        return f"{kind} {event.get('url.full')}: the probe call succeeded"
    if kind == "soapguard.certificate_expiring":
        role, subject = event.get("tls.certificate.role"), event.get("tls.certificate.subject")
        return (
            f"{kind} {role} certificate {subject}"
            f" of {event.get('server.address')}:{event.get('server.port')} expires "
            f"{event.get('tls.certificate.not_after')} ({event.get('days_left')} days left): "
            f"hint: {event.get('hint')}"
        )
    method = ".".join(str(p) for p in (event.get("rpc.service"), event.get("rpc.method")) if p)
    head = f"{kind} {method or event.get('url.full')}"
    if kind == "soapguard.attempt_failed":
        head += f" attempt {event.get('attempt')}/{event.get('max_attempts')}"
    else:
        head += f" after {event.get('attempt')} attempt(s)"
    last = "last failure " if kind == "soapguard.call_recovered" else ""
    failure = headline(
        event.get("error.type"),
        event.get("error.origin"),
        event.get("phase"),
        str(event.get("request_sent")),  # always shown, as in the exception message
        None,
    )
    parts = [f"{last}{failure}"]
    if kind != "soapguard.call_recovered":
        parts.append(f"decision={event.get('decision')} ({event.get('decision_reason')})")
    if event.get("hint"):
        parts.append(f"hint: {event['hint']}")
    return f"{head}: {', '.join(parts)}"


def config_origin(config: Config) -> dict[str, list[str]]:
    """What the first event of a client says about where its settings came from.

    ``config.from_code``: the variables whose value code set (a ``Config(...)`` argument,
    or an override given to ``Config.from_env``); ``config.ignored_env``: the ``SOAPGUARD_*``
    variables set in the environment that have no effect because of that.  Names only.
    """
    from_code = sorted(env_name(n) for n, src in config.sources.items() if src == "argument")
    return {"config.from_code": from_code, "config.ignored_env": ignored_env(config)}


class Emitter:
    """Sends events to the log, the diagnostics file and the ``on_event`` hook."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._path = config.diagnostics_file
        self._hook = config.on_event
        self._file_warned = False
        self._origin_shown = False

    def emit(self, event: Mapping[str, Any]) -> None:
        if not self._origin_shown and isinstance(event, dict) and "config.from_code" in event:
            self._origin_shown = True  # said once per client: its first event carries it
            event.update(config_origin(self._config))
        level = _level(event)
        if logger.isEnabledFor(level):
            logger.log(level, "%s", _summary(event), extra={"soapguard": event})
        if self._path:
            self._write(self._path, event)
        if self._hook is not None:
            try:
                self._hook(copy.deepcopy(dict(event)))
            except Exception:
                logger.exception("soapguard on_event hook raised; the call is not affected")

    def _write(self, path: str, event: Mapping[str, Any]) -> None:
        try:
            line = json.dumps(event, default=str, sort_keys=True) + "\n"
            data = line.encode("utf-8")
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            # opened per event: survives fork() and log rotation; O_APPEND + one write()
            # keeps lines whole across threads and processes
            fd = os.open(path, flags, 0o600)
            try:
                written = os.write(fd, data)
                while written < len(data):  # short writes are rare; finish the line anyway
                    written += os.write(fd, data[written:])
            finally:
                os.close(fd)
        except Exception as exc:
            if not self._file_warned:
                self._file_warned = True
                reason = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
                logger.warning(
                    "soapguard could not write to SOAPGUARD_DIAGNOSTICS_FILE (%s); "
                    "events still go to this logger",
                    reason,
                )
