"""What the async transport reads from httpx: a client's settings and secrets, timeouts,
a response's charset.  (``_transport`` and ``_mounts`` are private to httpx: see
:mod:`soapguard._compat`.)"""

from __future__ import annotations

import codecs
import contextlib
from typing import Any

import httpx

from ..diagnostics.secrets import header_secrets

__all__ = [
    "charset",
    "client_secrets",
    "client_transport",
    "httpx_timeout",
    "is_plain",
    "mounts",
    "timeouts",
]


def charset(content_type: str | None) -> str:
    """The charset a ``Content-Type`` names, if Python knows it; else UTF-8 (as httpx)."""
    if content_type and "charset" in content_type.lower():
        for part in content_type.split(";")[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "charset":
                charset = value.strip().strip("\"'")
                try:
                    return codecs.lookup(charset).name if charset else "utf-8"
                except LookupError:
                    break
    return "utf-8"


def is_plain(client: httpx.AsyncClient) -> bool:
    """Whether ``client.send`` would add nothing but cookies to a request."""
    hooks = client.event_hooks
    return not (
        client.auth is not None
        or hooks["request"]
        or hooks["response"]
        or client.params
        or client.follow_redirects
    )


def timeouts(timeout: Any) -> dict[str, float | None]:
    """zeep's timeout (None, seconds or (connect, read)) as httpcore's ``timeout`` extension
    (what ``httpx_timeout(timeout).as_dict()`` gives, without building the object)."""
    if isinstance(timeout, tuple):
        connect, read = timeout
        return {"connect": connect, "read": read, "write": read, "pool": connect}
    if isinstance(timeout, httpx.Timeout):
        return timeout.as_dict()
    return {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}


def httpx_timeout(timeout: Any) -> httpx.Timeout:
    """zeep's timeout (None, seconds or (connect, read)) as an ``httpx.Timeout``."""
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, tuple):
        connect, read = timeout
        return httpx.Timeout(read, connect=connect, pool=connect)
    return httpx.Timeout(timeout)


def client_transport(client: httpx.AsyncClient) -> Any:
    return client._transport  # private: see soapguard._compat


def mounts(client: httpx.AsyncClient | httpx.Client) -> dict[Any, Any]:
    mounts: dict[Any, Any] = client._mounts  # private: see soapguard._compat
    return mounts


def client_secrets(client: Any) -> set[str]:
    """What an httpx client holds: auth, secret headers, cookie values."""
    found = header_secrets(getattr(client, "headers", None))
    auth_header = getattr(getattr(client, "auth", None), "_auth_header", None)
    if isinstance(auth_header, str):  # httpx.BasicAuth keeps only the header it sends
        found |= header_secrets({"Authorization": auth_header})
    jar = getattr(getattr(client, "cookies", None), "jar", None)
    with contextlib.suppress(Exception):  # a foreign jar: its values stay unknown
        found.update(c.value for c in list(jar or ())[:256] if isinstance(c.value, str))
    return found
