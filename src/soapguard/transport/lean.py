"""The lean path: a SOAP POST through the adapter's urllib3 pool, without requests' Session.

On a kept-alive connection, requests costs a small SOAP call more than zeep and the
HTTP exchange together: ``Session.request`` merges settings (a runtime ``Protocol``
check per value), ``Session.send`` and ``HTTPAdapter.send`` look the pool up, parse
the URL, build a timeout, a response and two cookie jars, and dispatch hooks -- on
every call.  Where soapguard owns everything those steps would look at, the lean path
does only what changes the outcome:

* the request is prepared as ``Session.request`` would prepare it (session headers
  merged and validated, ``Content-Length``, URL credentials as Basic auth), from a
  per-address template (:mod:`.prepared`);
* it goes through the *same* urllib3 pool and connection classes, with the same
  ``urlopen`` arguments as ``HTTPAdapter.send``, so the bytes on the wire, the
  evidence the connections record and the pool's limits are the same;
* urllib3's exceptions become requests' exceptions exactly as ``HTTPAdapter.send``
  maps them, so classification, events and the exception a caller sees are the same;
* the response is a real ``requests.Response`` (status, headers, encoding, reason,
  url, raw, request, elapsed); cookies the server sets land in the response's and the
  session's jars as requests puts them there; a redirect response is handed to
  ``Session.resolve_redirects`` after soapguard's redirect rule, as ``Session.send``
  does; the body is read with requests' own ``Response.content``.

It is taken only when nothing a user can see could differ (:func:`route_for` says
why not, otherwise): the session soapguard built for itself or one with nothing of
its own (no auth, cookies, params, hooks, proxies, certificate, streaming, or
``trust_env``), soapguard's adapter mounted for the URL, no proxy for the URL, a
bytes body, and requests' own ``Session.send``, ``Session.get_adapter`` and
``HTTPAdapter.send`` in place -- ``responses`` replaces the adapter's ``send`` and
``requests_mock`` the session's, so a user's mocked tests always take requests' full
path and are intercepted as before.
"""

from __future__ import annotations

import itertools
import os
import threading
from datetime import timedelta
from typing import Any

import requests
import requests.adapters
import requests.sessions
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from requests.exceptions import (
    ConnectionError,
    ConnectTimeout,
    InvalidHeader,
    InvalidURL,
    ProxyError,
    ReadTimeout,
    RetryError,
    SSLError,
)
from requests.hooks import dispatch_hook
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ResponseError,
)
from urllib3.exceptions import InvalidHeader as Urllib3InvalidHeader
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.util import Timeout

from .adapter import SoapGuardAdapter
from .prepared import CACHE_LIMIT, HeaderCheck, LeanTarget, prepare, target_for

__all__ = [
    "PATHS",
    "HeaderCheck",
    "LeanTarget",
    "PathCounts",
    "as_requests_error",
    "lean_ready",
    "plain_session",
    "prepare",
    "send",
    "target_for",
]


def _code(func: Any) -> Any:
    return getattr(func, "__code__", None)


def _requests_code(owner: type, name: str, module: Any) -> Any:
    """The code object of ``owner.name`` if it is requests' own (defined in ``module``)."""
    code = _code(getattr(owner, name, None))
    if code is None or os.path.normcase(code.co_filename) != os.path.normcase(module.__file__):
        return None
    return code


class _Originals:
    """The code of requests' own ``Session.send``, ``Session.get_adapter``, ``HTTPAdapter.send``.

    Learnt the first time none of them is replaced (a mock library installs its own
    function, defined in its own file, in their place); until then nothing is lean.
    """

    def __init__(self) -> None:
        self.codes: tuple[Any, Any, Any] | None = None
        self._lock = threading.Lock()

    def learnt(self) -> tuple[Any, Any, Any] | None:
        codes = self.codes
        if codes is None:
            with self._lock:
                learnt = (
                    _requests_code(requests.Session, "send", requests.sessions),
                    _requests_code(requests.Session, "get_adapter", requests.sessions),
                    _requests_code(requests.adapters.HTTPAdapter, "send", requests.adapters),
                )
                if None in learnt:
                    return None
                self.codes = codes = learnt
        return codes


_ORIGINALS = _Originals()
_OWN_SEND = _code(SoapGuardAdapter.send)


def plain_session(session: requests.Session) -> bool:
    """Whether ``Session.request`` would merge nothing but headers into a POST.

    ``trust_env`` off (proxies, CA variables and ``~/.netrc`` are then not looked up on
    each request), and no auth, params, proxies, cookies or hooks of its own.
    """
    return (
        not session.trust_env
        and session.auth is None
        and not session.params
        and not session.proxies
        and not len(session.cookies)
        and not any(session.hooks.values())
    )


def lean_ready(session: requests.Session, adapter: SoapGuardAdapter) -> bool:
    """Whether nothing of a :func:`plain_session` (or a mock) would make requests' path differ.

    The methods are looked up as requests would call them, so a replacement on the
    class (``responses``, ``requests_mock``), on a subclass or on the instance is seen.
    ``requests_mock`` leaves the session an instance attribute ``get_adapter`` bound to
    requests' own function when it stops: that one is requests' own and is accepted.
    """
    codes = _ORIGINALS.learnt()
    return (
        codes is not None
        and session.cert is None
        and not session.stream
        and _bound_to(session.send, session, codes[0])
        and _bound_to(session.get_adapter, session, codes[1])
        and _code(requests.adapters.HTTPAdapter.send) is codes[2]
        and _bound_to(adapter.send, adapter, _OWN_SEND)
    )


def _bound_to(method: Any, owner: object, code: Any) -> bool:
    """Whether ``method`` is the function of ``code``, bound to ``owner``."""
    return _code(method) is code and getattr(method, "__self__", None) is owner


#: the paths a POST can take (see ``Transport._send``)
PATHS = ("lean", "prepared", "requests")


class PathCounts:
    """How many POSTs each path carried; lock-free and thread-safe (``itertools.count``).

    Tests read it to prove which path a call took; it costs one ``next()`` per POST.
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts = {name: itertools.count() for name in PATHS}

    def add(self, path: str) -> None:
        next(self._counts[path])

    def snapshot(self) -> dict[str, int]:
        """``{path: POSTs so far}``."""
        return {name: int(repr(count)[6:-1]) for name, count in self._counts.items()}  # "count(N)"


def send(
    session: requests.Session,
    adapter: SoapGuardAdapter,
    target: LeanTarget,
    prepared: requests.PreparedRequest,
    wire: dict[str, Any],
    timeout: Any,
) -> requests.Response:
    """``session.send(prepared)`` as requests would run it, minus what cannot matter here.

    ``wire`` is ``prepared.headers`` as a plain dict (see :func:`prepare`).
    """
    verify = session.verify
    start = requests.sessions.preferred_clock()
    try:
        pool = adapter.lean_pool(target.url, verify)
    except LocationValueError as exc:
        raise InvalidURL(exc, request=prepared) from None
    resolved = timeout if isinstance(timeout, Timeout) else _timeout(timeout)
    try:
        raw = pool.urlopen(
            method="POST",
            url=target.path,
            body=prepared.body,
            headers=wire,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=adapter.max_retries,
            timeout=resolved,
            chunked=False,
        )
    except BaseException as exc:
        mapped = as_requests_error(exc, prepared)
        if mapped is exc:
            raise
        raise mapped  # noqa: B904 - chained implicitly, as HTTPAdapter.send chains it
    cookies = _sets_cookies(raw)
    response = _response(adapter, prepared, raw, cookies)
    response.elapsed = timedelta(seconds=requests.sessions.preferred_clock() - start)
    if response.is_redirect:  # the hooks, the cookies, the redirects, as Session.send does
        kwargs: dict[str, Any] = {
            "stream": False,
            "verify": verify,
            "cert": None,
            "proxies": {},
            "timeout": timeout,
        }
        response = dispatch_hook("response", prepared.hooks, response, **kwargs)  # type: ignore[no-untyped-call]
        extract_cookies_to_jar(session.cookies, prepared, raw)  # type: ignore[no-untyped-call]
        prepared._cookies = RequestsCookieJar()  # type: ignore[attr-defined]
        history = list(session.resolve_redirects(response, prepared, **kwargs))
        if history:
            history.insert(0, response)
            response = history.pop()
            response.history = history
    elif cookies:
        extract_cookies_to_jar(session.cookies, prepared, raw)  # type: ignore[no-untyped-call]
    # (the only response hook, the redirect rule, does nothing to any other response)
    response.content  # noqa: B018 - read the body, as Session.send does when not streaming
    result: requests.Response = response
    return result


#: urllib3 timeouts by value; urllib3 clones one before using it, so they can be shared
_TIMEOUTS: dict[Any, Timeout] = {}


def _timeout(timeout: Any) -> Timeout:
    """The urllib3 ``Timeout`` ``HTTPAdapter.send`` builds for ``timeout``, remembered."""
    found = _TIMEOUTS.get(timeout)
    if found is None:
        if isinstance(timeout, tuple):
            connect, read = timeout
            found = Timeout(connect=connect, read=read)
        else:
            found = Timeout(connect=timeout, read=timeout)
        if len(_TIMEOUTS) < CACHE_LIMIT:
            _TIMEOUTS[timeout] = found
    return found


def _sets_cookies(raw: Any) -> bool:
    headers = raw.headers
    return "set-cookie" in headers or "set-cookie2" in headers


def _response(
    adapter: SoapGuardAdapter, prepared: requests.PreparedRequest, raw: Any, cookies: bool
) -> Any:
    """``HTTPAdapter.build_response``; the cookie extraction only when there are cookies."""
    response = requests.Response()
    response.status_code = raw.status
    response.headers = CaseInsensitiveDict(raw.headers)
    response.encoding = get_encoding_from_headers(response.headers)
    response.raw = raw
    response.reason = raw.reason
    response.url = prepared.url or ""
    if cookies:
        extract_cookies_to_jar(response.cookies, prepared, raw)  # type: ignore[no-untyped-call]
    response.request = prepared
    response.connection = adapter
    return response


def as_requests_error(exc: BaseException, request: requests.PreparedRequest) -> BaseException:
    """The exception ``HTTPAdapter.send`` raises when urllib3's ``urlopen`` raised ``exc``
    (``exc`` itself where requests lets it through), clause by clause in its order."""
    if isinstance(exc, ProtocolError | OSError):
        return ConnectionError(exc, request=request)
    if isinstance(exc, MaxRetryError):
        reason = exc.reason
        if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
            return ConnectTimeout(exc, request=request)
        if isinstance(reason, ResponseError):
            return RetryError(exc, request=request)
        if isinstance(reason, Urllib3ProxyError):
            return ProxyError(exc, request=request)
        if isinstance(reason, Urllib3SSLError):
            return SSLError(exc, request=request)
        return ConnectionError(exc, request=request)
    if isinstance(exc, ClosedPoolError):
        return ConnectionError(exc, request=request)
    if isinstance(exc, Urllib3ProxyError):
        return ProxyError(exc)
    if isinstance(exc, Urllib3SSLError):
        return SSLError(exc, request=request)
    if isinstance(exc, Urllib3ReadTimeoutError):
        return ReadTimeout(exc, request=request)
    if isinstance(exc, Urllib3InvalidHeader):
        return InvalidHeader(exc, request=request)
    return exc
