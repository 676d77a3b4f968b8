"""Proxy settings, read from the environment once per transport instead of on every request.

requests looks up ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (and ``~/.netrc``) for every
request it sends; a transport resolves the proxy variables once, when it is built, and
the proxy for each (scheme, host) once after that.  ``~/.netrc`` is never consulted.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from typing import Any


class Proxies:
    """The proxies of one transport (empty: connect directly)."""

    def __init__(self, variables: dict[str, str] | None = None) -> None:
        self._variables = dict(variables or {})
        self._cache: dict[tuple[str, str], dict[str, str]] = {}

    @classmethod
    def from_environment(cls) -> Proxies:
        """``*_proxy`` variables as they are now (like requests, but read once)."""
        return cls(urllib.request.getproxies_environment())

    def urls(self) -> list[str]:
        """The proxy URLs (they may carry credentials: secrets to mask)."""
        return [value for name, value in self._variables.items() if name != "no"]

    def for_url(self, url: str) -> dict[str, str]:
        """The ``proxies=`` mapping requests needs for ``url``."""
        if not self._variables:
            return {}
        parsed = urllib.parse.urlparse(url)
        key = (parsed.scheme, parsed.hostname or "")
        cached = self._cache.get(key)
        if cached is None:
            bypass = "no" in self._variables and _bypass(key[1], self._variables)
            proxy = None if bypass else self._variables.get(key[0]) or self._variables.get("all")
            cached = {key[0]: proxy} if proxy else {}
            if len(self._cache) < 1024:
                self._cache[key] = cached
        return cached


def _bypass(host: str, proxies: dict[str, str]) -> bool:
    """``NO_PROXY`` matching, as urllib does it (not in typeshed, hence the wrapper)."""
    check: Any = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return bool(check(host, proxies))
