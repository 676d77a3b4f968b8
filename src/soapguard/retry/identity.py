"""Per-call declarations an application makes around a call, thread- and task-local."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from ..config import Config

_override: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "soapguard_idempotent", default=None
)


@contextlib.contextmanager
def idempotent(value: bool = True) -> Iterator[None]:
    """Declare the calls made inside the block idempotent (or, with ``False``, not).

    Thread- and asyncio-task-local; nests; wins over ``SOAPGUARD_IDEMPOTENT_OPERATIONS``::

        with soapguard.idempotent():
            client.service.Transfer(..., requestId=unique_id)   # safe to replay: server dedups
    """
    token = _override.set(bool(value))
    try:
        yield
    finally:
        _override.reset(token)


def is_idempotent(config: Config, operation: str) -> bool:
    """Whether a call to ``operation`` may be replayed: ``idempotent()`` wins over the config."""
    override = _override.get()
    return config.is_idempotent(operation) if override is None else override
