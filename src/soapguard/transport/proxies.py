"""Proxy settings, read from the environment once per transport instead of on every request.

requests looks up ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (and ``~/.netrc``) for every
request it sends; a transport resolves the proxy variables once, when it first needs them
(its first request, or its first remote WSDL), and the proxy for each (scheme, host) once
after that.  ``~/.netrc`` is never consulted.
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from typing import Any


class Proxies:
    """The proxies of one transport (empty: connect directly)."""

    def __init__(self, variables: dict[str, str] | None = None) -> None:
        #: None: read from the environment when first needed
        self._variables: dict[str, str] | None = dict(variables or {})
        self._cache: dict[tuple[str, str], dict[str, str]] = {}

    @classmethod
    def from_environment(cls) -> Proxies:
        """The ``*_proxy`` variables, read once, when first needed (like requests, which
        reads them for every request).  Building a transport does not read them: it
        would decode the whole environment for every client built."""
        proxies = cls()
        proxies._variables = None
        return proxies

    def _read(self) -> dict[str, str]:
        variables = self._variables
        if variables is None:
            variables = self._variables = environment_proxies()
        return variables

    def urls(self) -> list[str]:
        """The proxy URLs (they may carry credentials: secrets to mask)."""
        return [value for name, value in self._read().items() if name != "no"]

    def for_url(self, url: str) -> dict[str, str]:
        """The ``proxies=`` mapping requests needs for ``url``."""
        variables = self._variables
        if variables is None:
            variables = self._read()
        if not variables:
            return {}
        parsed = urllib.parse.urlparse(url)
        key = (parsed.scheme, parsed.hostname or "")
        cached = self._cache.get(key)
        if cached is None:
            bypass = "no" in variables and _bypass(key[1], variables)
            proxy = None if bypass else variables.get(key[0]) or variables.get("all")
            cached = {key[0]: proxy} if proxy else {}
            if len(self._cache) < 1024:
                self._cache[key] = cached
        return cached


def proxy_secrets(proxies: Proxies) -> set[str]:
    """The credentials in ``proxies``' URLs (a transport's secret source)."""
    from ..diagnostics.secrets import url_secrets

    return {secret for url in proxies.urls() for secret in url_secrets(url)}


def environment_proxies() -> dict[str, str]:
    """``urllib.request.getproxies_environment()``, reading the environment once instead of
    twice (each read decodes every variable and value).

    Its rules: any-case ``<scheme>_proxy`` variables, the lower-case one winning (an empty
    lower-case one removes the scheme); under CGI (``REQUEST_METHOD`` set) a non-lower-case
    ``HTTP_PROXY`` is ignored, since a client's ``Proxy:`` header can set it.
    """
    env = os.environ  # keys only: a value is decoded only for the proxy variables
    found = [(name, env[name]) for name in env if name[-6:].lower() == "_proxy"]
    proxies = {name.lower()[:-6]: value for name, value in found if value}
    if "REQUEST_METHOD" in os.environ:
        proxies.pop("http", None)
    for name, value in found:
        if name[-6:] == "_proxy":  # lower-case suffix: these win, in environment order
            if value:
                proxies[name.lower()[:-6]] = value
            else:
                proxies.pop(name.lower()[:-6], None)
    return proxies


def _bypass(host: str, proxies: dict[str, str]) -> bool:
    """``NO_PROXY`` matching, as urllib does it (not in typeshed, hence the wrapper)."""
    check: Any = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return bool(check(host, proxies))
