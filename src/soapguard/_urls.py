"""URL facts used across soapguard: an endpoint's origin, with its default port.

One function, so that the retry budget, the circuit breaker, the events, the spans,
the pools and the redirect rule agree on what "the same endpoint" is.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

DEFAULT_PORTS = {"https": 443, "http": 80}


class Origin(NamedTuple):
    """``scheme://host:port`` of a URL: scheme and host lower case, the port made explicit."""

    scheme: str
    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}" if self.port else f"{self.scheme}://{host}"


@functools.lru_cache(maxsize=512)
def origin(url: str) -> Origin:
    """The origin of ``url``; never raises (an unparsable URL gives empty parts)."""
    try:
        parsed = parse_url(url)
    except (LocationParseError, ValueError):
        return Origin("", "", None)
    scheme = (parsed.scheme or "http").lower()
    host = (parsed.host or "").lower().strip("[]")
    return Origin(scheme, host, parsed.port or DEFAULT_PORTS.get(scheme))
