"""What the sync and async transports do alike around one exchange.

* :func:`standalone_context`: the call context of a plain ``zeep.Client`` /
  ``zeep.AsyncClient`` call (operation from the SOAPAction, the configured endpoints, a
  fresh identity);
* :func:`start`: mark an attempt as entered and give its timeouts (shrunk to what is left
  of the call's deadline) and its headers (with the idempotency key, if configured).
"""

from __future__ import annotations

import time
from typing import Any

from ..config import Config
from ..diagnostics.secrets import SecretScope
from ..retry.identity import call_identity, is_idempotent
from .evidence import Attempt, CallContext
from .operation import operation_name


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
