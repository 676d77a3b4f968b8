"""Per-call declarations an application makes around a call, thread- and task-local."""

from __future__ import annotations

import contextlib
import contextvars
import os
import uuid
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


_key: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "soapguard_idempotency_key", default=None
)

#: namespace of the WS-Addressing MessageIDs derived from an application's key
_MESSAGE_ID_NAMESPACE = uuid.UUID("6f1a2c3e-5b7d-4e9f-8a0b-1c2d3e4f5a6b")


@contextlib.contextmanager
def idempotency_key(key: str) -> Iterator[None]:
    """Give the calls made inside the block this idempotency key (thread- and task-local).

    With ``SOAPGUARD_IDEMPOTENCY_HEADER`` set, every attempt of such a call sends ``key``
    in that header, and with WS-Addressing its ``wsa:MessageID`` is derived from it,
    so an application that repeats a call after an "outcome unknown" error sends the
    same identity and a deduplicating server can recognise it.  The key never changes
    which calls soapguard retries (declare those with :func:`idempotent`)::

        with soapguard.idempotency_key(f"order-{order.id}"):
            client.service.Transfer(...)
    """
    if not isinstance(key, str) or not key.strip():
        raise ValueError("an idempotency key must be a non-empty string")
    token = _key.set(key)
    try:
        yield
    finally:
        _key.reset(token)


def call_identity() -> tuple[str, str]:
    """``(idempotency key, wsa:MessageID)`` for a new call: the application's key (and a
    MessageID derived from it) inside :func:`idempotency_key`, else fresh random ones."""
    key = _key.get()
    if key is not None:
        return key, f"urn:uuid:{uuid.uuid5(_MESSAGE_ID_NAMESPACE, key)}"
    # uuid.uuid4() without the UUID object (on every call): 122 random bits, version 4
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return h, f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
