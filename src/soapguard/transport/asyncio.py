"""``soapguard.AsyncTransport``: a ``zeep.transports.AsyncTransport`` with soapguard's rules.

Used by :class:`soapguard.AsyncClient` (which retries per operation call, rebuilding
the envelope each time) and usable alone under a plain ``zeep.AsyncClient``, where
its retries resend the same bytes (as ``soapguard.Transport`` does for ``zeep.Client``).

Built on httpx as zeep's is, with what the sync transport gives: the SSL context
:func:`soapguard.tls.context_for` builds once per configuration (profiles, record caps,
TLS 1.3 suites, the CA order of :mod:`soapguard.tls.trust`), per-attempt timeouts
capped by the call's deadline, connections that record how far each request got
(:mod:`._httpx`), failures classified once and raised as :mod:`soapguard.async_errors`.

Operation calls go through ``httpx.AsyncHTTPTransport.handle_async_request``, so
pytest-httpx and respx mocks keep working.  When the httpx client has nothing of its own
to add (no auth, event hooks, query parameters or redirect following: the client this
transport builds), a request is handed to the client's transport directly instead of
through ``AsyncClient.send``, which saves most of httpx's per-request cost; cookies the
server sets are still kept and sent back.  Otherwise ``AsyncClient.send`` is used.

WSDL and XSD documents are loaded synchronously, as zeep does, with an ``httpx.Client``
that uses the same SSL context and soapguard's timeouts.  Proxy variables are read once,
when the clients are built (httpx's ``trust_env``); ``~/.netrc`` is not consulted.
"""

from __future__ import annotations

import logging
import os
import ssl
from typing import Any

import httpx
import requests
import zeep
from zeep.transports import AsyncTransport as _ZeepAsyncTransport
from zeep.utils import get_version
from zeep.wsdl.utils import etree_to_string

from .. import _compat, async_errors
from ..classify.core import mapped_errors
from ..config import Config
from ..diagnostics.logs import install_log_redaction
from ..diagnostics.secrets import SecretScope, active_scope, guarded
from ..errors import ConfigError
from ..retry.loop import Runner
from ..retry.rules import TRANSIENT_STATUSES
from ..tls.trust import resolve_trust, trust_context
from . import _httpx
from . import _httpx_client as _hc
from .common import StandaloneLoop, log_payload, standalone_context, start
from .evidence import Attempt, sending

logger = logging.getLogger(__name__)

_DEFAULT: Any = object()
#: the User-Agent zeep's own async transport sends
_USER_AGENT = f"Zeep/{get_version()} (www.python-zeep.org)"  # type: ignore[no-untyped-call]
#: what the transport maps: httpx's exceptions (ssl.SSLError and OSError are always mapped)
_HTTPX_ERRORS: tuple[type[BaseException], ...] = (httpx.HTTPError,)


class _RetryableStatus(zeep.exceptions.TransportError):
    """Internal: a 502/503/504 seen by a standalone transport, so the rules can retry it."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            f"HTTP {response.status_code}", status_code=response.status_code
        )
        self.response = response


class AsyncTransport(_ZeepAsyncTransport):
    """zeep's async transport, hardened.  Takes zeep's arguments plus keyword-only ``config``.

    ``timeout`` (WSDL/XSD loading) and ``operation_timeout`` default to
    ``(SOAPGUARD_CONNECT_TIMEOUT, SOAPGUARD_READ_TIMEOUT)`` instead of zeep's 300 s and
    *no timeout at all*.  ``verify_ssl`` may be ``False`` (code only: verification off,
    logged once) or a CA path (its place in the CA order is the one a ``verify`` path
    set in code has); certificates are otherwise verified as :mod:`soapguard.tls.trust`
    says.  A ``client`` of your own keeps its headers, auth, cookies and event hooks;
    soapguard replaces its transport (and refuses one with mounted transports, which it
    could neither observe nor harden).
    """

    #: what zeep's ``__del__`` reads (it closes only sessions it made itself)
    _close_session = False

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        wsdl_client: httpx.Client | None = None,
        cache: Any = None,
        timeout: Any = _DEFAULT,
        operation_timeout: Any = _DEFAULT,
        verify_ssl: bool | str = True,
        proxy: Any = None,
        *,
        config: Config | None = None,
    ) -> None:
        # zeep's own __init__ is not called: before zeep 4.3.2 it passes httpx a
        # ``proxies=`` argument that httpx 0.28 no longer accepts.
        self.config = cfg = config if config is not None else Config.from_env()
        self.cache = cache
        self.logger = logging.getLogger("zeep.transports")
        if isinstance(verify_ssl, ssl.SSLContext):
            raise ConfigError(
                [("verify_ssl", "an SSLContext of your own cannot be hardened; use "
                  "SOAPGUARD_CA_BUNDLE / Config(ca_bundle=...) and SOAPGUARD_TLS_* instead")]
            )  # fmt: skip
        env = os.environ if cfg.trust_env else {}
        self.trust = resolve_trust(cfg, verify_ssl if verify_ssl is not True else None, env)
        self.ssl_context = trust_context(cfg, self.trust)
        default_timeout = (cfg.connect_timeout, cfg.read_timeout)
        self.load_timeout = default_timeout if timeout is _DEFAULT else timeout
        self.operation_timeout = (
            default_timeout if operation_timeout is _DEFAULT else operation_timeout
        )
        endpoints = 1 + len(cfg.failover_addresses)
        self.limits = httpx.Limits(
            max_connections=None,  # bounded per endpoint by the slots below
            max_keepalive_connections=cfg.pool_maxsize * endpoints,
            keepalive_expiry=cfg.pool_idle_timeout,
        )
        self._own_client = client is None
        self.client = self._operations_client(client, proxy)
        self._own_wsdl_client = wsdl_client is None
        self.wsdl_client = wsdl_client or httpx.Client(
            verify=self.ssl_context,
            timeout=_hc.httpx_timeout(self.load_timeout),
            trust_env=cfg.trust_env,
            proxy=proxy,
            headers={"User-Agent": _USER_AGENT},
        )
        self.slots = _httpx.EndpointSlots(cfg.pool_maxsize)
        self._loop = StandaloneLoop(lambda: Runner(cfg, error_for=async_errors.error_for))
        self._urls: dict[str, httpx.URL] = {}
        #: its clients' and URLs' secrets; an AsyncClient's scope includes them
        self.secrets = SecretScope(cfg.sensitive_elements)
        self.secrets.add_source(lambda: _hc.client_secrets(self.client))
        self.secrets.add_source(lambda: _hc.client_secrets(self.wsdl_client))
        if isinstance(proxy, str):
            self.secrets.add_url(proxy)
        install_log_redaction()  # inert outside soapguard calls

    def _operations_client(self, client: httpx.AsyncClient | None, proxy: Any) -> httpx.AsyncClient:
        cfg = self.config
        if client is None:
            client = httpx.AsyncClient(
                verify=self.ssl_context,
                limits=self.limits,
                trust_env=cfg.trust_env,
                proxy=proxy,
                headers={"User-Agent": _USER_AGENT},
            )
        else:
            if any(mounted is not None for mounted in _hc.mounts(client).values()):
                raise ConfigError(
                    [("client", "has mounted transports (or proxies from the environment) "
                      "soapguard can neither observe nor harden; pass proxy= to "
                      "soapguard.AsyncTransport instead")]
                )  # fmt: skip
            client._transport = httpx.AsyncHTTPTransport(  # private: see soapguard._compat
                verify=self.ssl_context, limits=self.limits, trust_env=False, proxy=proxy
            )
        for mounted in (_hc.client_transport(client), *_hc.mounts(client).values()):
            if isinstance(mounted, httpx.AsyncHTTPTransport):
                _compat.check_async_pool(getattr(mounted, "_pool", None), self.ssl_context)
                _httpx.instrument(mounted, cfg.pool_max_age)
        return client

    @property
    def runner(self) -> Runner:
        """The attempt loop of calls a plain ``zeep.AsyncClient`` makes through it."""
        return self._loop.get()

    # -- attempts ------------------------------------------------------------------------
    def bound(self, attempt: Attempt) -> AsyncBoundTransport:
        """This transport as one attempt of a guarded call sees it."""
        return AsyncBoundTransport(self, attempt)

    # -- zeep's entry points for a plain zeep.AsyncClient -----------------------------------
    async def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> Any:
        """A call made by a plain ``zeep.AsyncClient``: the same rules, on the same bytes."""
        ctx = standalone_context(self.config, address, message, headers, self.secrets)

        async def send(attempt: Attempt) -> httpx.Response:
            return await self.exchange(attempt, attempt.endpoint, message, headers, give_back=True)

        try:
            return await self.runner.run_async(ctx, send)
        except _RetryableStatus as exc:  # give zeep the response, as usual
            return exc.response

    async def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> Any:
        message: bytes = etree_to_string(envelope)  # type: ignore[no-untyped-call]
        response = await self.post(address, message, headers)
        return self.new_response(response)

    async def get(self, address: str, params: Any, headers: dict[str, str]) -> Any:
        response = await self.client.get(
            address,
            params=params,
            headers=headers,
            timeout=_hc.httpx_timeout(self.operation_timeout),
        )
        return self.new_response(response)

    async def exchange(
        self,
        attempt: Attempt,
        address: str,
        message: bytes | str,
        headers: dict[str, str],
        *,
        give_back: bool = False,
    ) -> httpx.Response:
        """Send ``message`` once, for ``attempt``; its connection records what happens.

        Low-level failures are classified here, once, against this attempt's evidence.
        With ``give_back`` a 502/503/504 response is raised (so the rules can retry it)
        instead of returned.
        """
        timeout, headers = start(attempt, self.config, self.operation_timeout, headers)
        timeouts = _hc.timeouts(timeout)
        log_payload(logger, self.config, address, message)
        client = self.client
        with sending(attempt), mapped_errors(attempt, async_errors.error_for, _HTTPX_ERRORS):
            request = self._request(client, address, message, headers, timeouts, attempt)
            slot = await self.slots.acquire(address, timeouts["pool"])
            try:
                if _hc.is_plain(client):
                    response = await self._send_plain(client, request)
                else:
                    response = await client.send(request)
            finally:
                slot.release()
        attempt.status = response.status_code
        attempt.response_headers = response.headers
        if self.config.log_payloads:
            log_payload(logger, self.config, address, response.content, response.status_code)
        if give_back and response.status_code in TRANSIENT_STATUSES:
            raise _RetryableStatus(response)
        return response

    def _request(
        self,
        client: httpx.AsyncClient,
        address: str,
        message: bytes | str,
        headers: dict[str, str],
        timeouts: dict[str, float | None],
        attempt: Attempt,
    ) -> httpx.Request:
        url = self._urls.get(address)
        if url is None:
            url = httpx.URL(address)
            if len(self._urls) < 256:
                self._urls[address] = url
        content = message.encode("utf-8") if isinstance(message, str) else message
        request = httpx.Request(
            "POST",
            url,
            headers=_httpx.request_headers(client.headers, headers, url, len(content)),
            stream=httpx.ByteStream(content),
            extensions={"timeout": timeouts, "trace": _httpx.tracer(attempt)},
        )
        request.read()  # as httpx does for content given as bytes: request.content is set
        return request

    @staticmethod
    async def _send_plain(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        """``client.send(request)`` for a client that adds nothing but cookies to a request."""
        cookies = client.cookies
        if cookies:
            cookies.set_cookie_header(request)
        transport = client._transport_for_url(request.url)  # private: see soapguard._compat
        response = await transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        if "set-cookie" in response.headers:
            cookies.extract_cookies(response)
        return response

    def new_response(self, response: httpx.Response) -> requests.Response:
        """zeep's conversion of an httpx response to a ``requests.Response``, minus the work
        nobody reads: a cookie jar only when the response sets cookies, and the charset read
        straight from ``Content-Type`` (httpx's default, UTF-8, when it names none)."""
        new = requests.Response()
        new._content = response.read()
        new.status_code = response.status_code
        new.headers = response.headers  # type: ignore[assignment]  # as zeep does
        if "set-cookie" in response.headers:
            new.cookies = response.cookies  # type: ignore[assignment]  # as zeep does
        new.encoding = _hc.charset(response.headers.get("content-type"))
        return new

    # -- documents ---------------------------------------------------------------------------
    def load(self, url: str) -> bytes:
        """zeep's WSDL/XSD loading; a failure is scrubbed (its URL may carry a token)."""
        self.secrets.add_url(url)
        with guarded(active_scope() or self.secrets):  # a client's own load: its wider scope
            content: bytes = super().load(url)  # type: ignore[no-untyped-call]
        return content

    async def aclose(self) -> None:
        """Close pooled connections (zeep calls this when an AsyncClient is used with
        ``async with``).  Clients passed in by the caller are left open."""
        if self._own_client:
            await self.client.aclose()
        if self._own_wsdl_client:
            self.wsdl_client.close()


class AsyncBoundTransport:
    """An :class:`AsyncTransport` bound to one attempt of a guarded call (see the sync twin,
    :class:`soapguard.transport.sync.BoundTransport`)."""

    __slots__ = ("_attempt", "_transport")

    def __init__(self, transport: AsyncTransport, attempt: Attempt) -> None:
        self._transport = transport
        self._attempt = attempt

    async def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> Any:
        message: bytes = etree_to_string(envelope)  # type: ignore[no-untyped-call]
        response = await self._transport.exchange(self._attempt, address, message, headers)
        return self._transport.new_response(response)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
