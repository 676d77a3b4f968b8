"""What the sync and async transports do alike around one exchange.

* :func:`standalone_context`: the call context of a plain ``zeep.Client`` /
  ``zeep.AsyncClient`` call (operation from the SOAPAction, the configured endpoints, a
  fresh identity);
* :class:`StandaloneLoop`: the attempt loop a transport runs for those calls, built when
  the first one comes (a transport a soapguard client owns never needs it);
* :func:`log_payload`: the redacted envelope at DEBUG, with ``SOAPGUARD_LOG_PAYLOADS``;
* :func:`start`: mark an attempt as entered and give its timeouts (shrunk to what is left
  of the call's deadline) and its headers (with the idempotency key, if configured).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config import Config
from ..diagnostics.secrets import SecretScope
from ..retry.identity import call_identity, is_idempotent
from ..retry.loop import Runner
from .evidence import Attempt, CallContext
from .operation import operation_name


class StandaloneLoop:
    """A transport's own :class:`~soapguard.retry.loop.Runner`, built on first use.

    Only calls a plain zeep client makes through the transport need it; a soapguard
    client brings its own loop, so building one per transport would be wasted work.
    """

    __slots__ = ("_build", "_lock", "_runner")

    def __init__(self, build: Callable[[], Runner]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._runner: Runner | None = None

    def get(self) -> Runner:
        runner = self._runner
        if runner is None:
            with self._lock:
                if self._runner is None:
                    self._runner = self._build()
                runner = self._runner
        return runner


def standalone_context(
    config: Config,
    address: str,
    message: bytes | str,
    headers: dict[str, str],
    secrets: SecretScope | None,
) -> CallContext:
    """The context of a call a plain zeep client makes through a soapguard transport."""
    operation = operation_name(headers, message)
    key, message_id = call_identity()
    return CallContext(
        service=None,
        method=operation,
        url=address,
        idempotent=is_idempotent(config, operation or ""),
        max_attempts=config.max_attempts,
        endpoints=(address, *config.failover_addresses),
        idempotency_key=key,
        message_id=message_id,
        secrets=secrets,
    )


def start(
    attempt: Attempt, config: Config, timeout: Any, headers: dict[str, str]
) -> tuple[Any, dict[str, str]]:
    """``(timeout, headers)`` for one exchange of ``attempt``, which is now entered.

    A retry never reuses a pooled connection; an attempt's connection ends every read and
    write by the call's deadline (sync: :mod:`.deadline`).
    """
    attempt.entered = True
    attempt.fresh_connection = attempt.number > 1
    if attempt.time_left is not None:
        timeout, attempt.deadline_capped = cap(timeout, attempt.time_left)
        attempt.deadline_at = time.monotonic() + attempt.time_left
    name = config.idempotency_header
    if name and attempt.idempotency_key:
        headers = {**headers, name: attempt.idempotency_key}
    return timeout, headers


def cap(timeout: Any, left: float) -> tuple[Any, bool]:
    """``timeout`` (None, seconds or (connect, read)) shrunk to a deadline's ``left`` seconds."""
    if isinstance(timeout, tuple):
        connect, read = timeout
    else:
        connect = read = timeout
    capped = tuple(left if t is None or t > left else t for t in (connect, read))
    return capped, capped != (connect, read)


def log_payload(
    logger: logging.Logger,
    config: Config,
    address: str,
    body: bytes | str,
    status: int | None = None,
) -> None:
    """Log a request (``status`` None) or a response envelope at DEBUG, redacted, when
    ``SOAPGUARD_LOG_PAYLOADS`` is on and the logger wants DEBUG."""
    if not (config.log_payloads and logger.isEnabledFor(logging.DEBUG)):
        return
    from ..diagnostics.redact import redact_url, redact_xml

    xml = redact_xml(body, config.sensitive_elements)
    if status is None:
        logger.debug("POST %s\n%s", redact_url(address), xml)
    else:
        logger.debug("HTTP %s from %s\n%s", status, redact_url(address), xml)
