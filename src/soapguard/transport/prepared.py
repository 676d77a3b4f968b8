"""A POST prepared as ``Session.request`` would prepare it, without ``Session.request``.

``Session.request`` re-merges cookies, auth, params, hooks and settings on every call
(in requests 2.34 a runtime ``Protocol`` check per value).  For a session that has none
of those (see :func:`~soapguard.transport.lean.plain_session`) the result is the
session's headers merged with the call's, validated, and completed with
``Content-Length`` and the Basic auth of credentials in the URL -- which is all
:func:`prepare` does, from a template worked out once per address
(:class:`LeanTarget`).  ``tests/unit/test_lean.py`` compares it with
``Session.prepare_request``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity, to_native_string

from .redirects import check_call_redirect

__all__ = ["HeaderCheck", "LeanTarget", "prepare", "target_for"]

#: how many addresses (and validated header pairs) are remembered per transport
CACHE_LIMIT = 256


class LeanTarget:
    """What ``Session.request`` would work out for one address, worked out once."""

    __slots__ = ("auth", "path", "url")

    def __init__(self, address: str) -> None:
        template = requests.PreparedRequest()
        template.prepare_url(address, None)
        template.headers = CaseInsensitiveDict()
        template.body = None
        template.prepare_auth(None, template.url)  # URL credentials -> Basic auth
        #: the prepared URL (quoted, IDNA host, credentials kept as requests keeps them)
        self.url: str = template.url or address
        #: what HTTPAdapter.request_url sends for a direct connection
        self.path: str = template.path_url
        #: the Authorization header the URL's credentials give (None: none)
        self.auth: str | None = template.headers.get("Authorization")


def target_for(cache: dict[str, LeanTarget], address: str) -> LeanTarget:
    target = cache.get(address)
    if target is None:
        target = LeanTarget(address)
        if len(cache) < CACHE_LIMIT:
            cache[address] = target
    return target


class HeaderCheck:
    """``check_header_validity`` with a memory of the pairs that passed (bounded)."""

    def __init__(self) -> None:
        self._valid: set[tuple[str, str]] = set()

    def __call__(self, name: Any, value: Any) -> None:
        pair = (name, value)
        if pair in self._valid:
            return
        check_header_validity(pair)
        if len(self._valid) < CACHE_LIMIT and isinstance(name, str) and isinstance(value, str):
            self._valid.add(pair)


def prepare(
    session: requests.Session,
    target: LeanTarget,
    message: bytes | str,
    headers: Mapping[str, Any],
    check: HeaderCheck,
) -> tuple[requests.PreparedRequest, dict[str, Any]]:
    """The POST ``Session.request`` would prepare for ``target`` (a session without cookies,
    auth, params or hooks), and its headers as a plain dict in the same order.

    Headers are merged, validated and completed as requests does; the plain dict is what
    the lean path hands urllib3 (the same names, values and order as the request's
    ``CaseInsensitiveDict``, which urllib3 would otherwise copy and walk item by item).
    """
    # merge_setting: the session's headers, updated by the call's (a name keeps its first
    # position and takes its last spelling), then every name whose value is None dropped
    merged: dict[str, tuple[str, Any]] = {}
    for source in (session.headers, headers):
        for name, value in source.items():
            merged[name.lower()] = (name, value)
    store: dict[str, tuple[str, Any]] = {}
    for lower, (name, value) in merged.items():
        if value is not None:
            check(name, value)  # prepare_headers
            store[lower] = (name if isinstance(name, str) else to_native_string(name), value)
    # prepare_body (an empty body is none, and its length 0), then prepare_auth; as in a
    # CaseInsensitiveDict, a name already there keeps its position and takes this spelling
    if message:
        length = len(message.encode("utf-8") if isinstance(message, str) else message)
        store["content-length"] = ("Content-Length", str(length))
    else:
        store["content-length"] = ("Content-Length", "0")
    if target.auth is not None:
        store["authorization"] = ("Authorization", target.auth)
    wire = dict(store.values())
    prepared = requests.PreparedRequest()
    prepared.method = "POST"
    prepared.url = target.url
    prepared.headers = CaseInsensitiveDict(wire)
    prepared.body = message or None
    prepared.hooks = {"response": [check_call_redirect]}
    return prepared, wire
