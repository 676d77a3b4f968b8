"""``soapguard.Transport``: a ``zeep.Transport`` with soapguard's TLS, classification and rules.

Used by :class:`soapguard.Client` (which retries per operation call, rebuilding
the envelope each time) and usable alone under a plain ``zeep.Client``::

    zeep.Client(wsdl, transport=soapguard.Transport())

Alone, it applies the same retry rules at the HTTP level.  The operation name
comes from the SOAPAction (or the first element of the Body), and a retry
**resends the same bytes**: a WS-Security nonce/timestamp is not refreshed,
which a strict server may reject as a replay.  Use ``soapguard.Client`` when
that matters.

Environment look-ups that requests repeats on every request (proxy variables,
``~/.netrc``) are done once here: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``
are resolved when the transport is built (``~/.netrc`` is never consulted),
and so are the CAs, in the order :mod:`soapguard.tls.trust` documents: a bad CA
file is a ``ConfigError`` when the transport is built.

A POST takes the cheapest of three paths that behave alike (:meth:`Transport._send`,
:mod:`.lean`); ``Transport.paths`` counts them.  A user's own session hooks run on
soapguard's calls too, after soapguard's redirect rule.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import requests
import zeep
from requests.cookies import RequestsCookieJar
from zeep.wsdl.utils import etree_to_string

from .._compat import check_dependencies
from ..classify.core import mapped_errors
from ..config import Config
from ..diagnostics.logs import install_log_redaction
from ..diagnostics.secrets import SecretScope, active_scope, guarded, session_secrets
from ..errors import ConfigError, SoapGuardError, error_for
from ..retry.loop import Runner
from ..retry.rules import TRANSIENT_STATUSES
from ..tls.trust import SessionTrust
from . import lean
from .adapter import SoapGuardAdapter
from .common import StandaloneLoop, log_payload, standalone_context, start
from .evidence import Attempt, sending
from .proxies import Proxies, proxy_secrets
from .redirects import check_call_redirect, check_document_redirect, hooks_with

logger = logging.getLogger(__name__)

_DEFAULT: Any = object()


class _RetryableStatus(requests.HTTPError):
    """Internal: a 502/503/504 seen by a standalone transport, so the rules can retry it."""


class Transport(zeep.Transport):
    """zeep's transport, hardened.  Takes zeep's arguments plus keyword-only ``config``.

    ``timeout`` (WSDL/XSD loading) and ``operation_timeout`` default to
    ``(SOAPGUARD_CONNECT_TIMEOUT, SOAPGUARD_READ_TIMEOUT)`` instead of zeep's
    300 s and *no timeout at all*.
    """

    #: what zeep's ``__del__`` reads; a constructor that fails early leaves nothing to close
    _close_session = False

    def __init__(
        self,
        cache: Any = None,
        timeout: Any = _DEFAULT,
        operation_timeout: Any = _DEFAULT,
        session: requests.Session | None = None,
        *,
        config: Config | None = None,
    ) -> None:
        check_dependencies()  # never run unhardened in silence
        self.config = config if config is not None else Config.from_env()
        cfg = self.config
        own_session = session is None
        if session is None:
            session = requests.Session()
            session.trust_env = False  # resolved once below instead of on every request
        else:
            _refuse_foreign_adapters(session)
        self.adapter = SoapGuardAdapter(cfg, trust=SessionTrust(cfg, session, os.environ))
        session.mount("https://", self.adapter)
        session.mount("http://", self.adapter)
        default_timeout = (cfg.connect_timeout, cfg.read_timeout)
        super().__init__(  # type: ignore[no-untyped-call]
            cache=cache,
            timeout=default_timeout if timeout is _DEFAULT else timeout,
            operation_timeout=default_timeout
            if operation_timeout is _DEFAULT
            else operation_timeout,
            session=session,
        )
        self._close_session = own_session
        self._proxies = Proxies.from_environment() if cfg.trust_env and own_session else Proxies()
        self._targets: dict[str, lean.LeanTarget] = {}
        self._header_check = lean.HeaderCheck()
        #: POSTs per path taken (``lean``, ``prepared``, ``requests``; see :meth:`_send`)
        self.paths = lean.PathCounts()
        self._loop = StandaloneLoop(lambda: Runner(cfg, error_for=error_for, release=self.release))
        #: its session's and URLs' secrets; a soapguard.Client's scope includes them
        self.secrets = SecretScope(cfg.sensitive_elements)
        self.secrets.add_source(lambda: session_secrets(self.session))
        self.secrets.add(cfg.client_key_password)  # never sent, but masked wherever it shows
        self.secrets.add_source(lambda: proxy_secrets(self._proxies))  # read when first needed
        install_log_redaction()  # inert outside soapguard calls

    @property
    def runner(self) -> Runner:
        """The attempt loop of calls a plain ``zeep.Client`` makes through this transport."""
        return self._loop.get()

    # -- attempts ------------------------------------------------------------------------
    def bound(self, attempt: Attempt) -> BoundTransport:
        """This transport as one attempt of a guarded call sees it (see :class:`BoundTransport`)."""
        return BoundTransport(self, attempt)

    def release(self, attempt: Attempt) -> None:
        """Before a retry: close the endpoint's idle connections; its pool and limit stay.

        The failed connection is among them if it went back to the pool (after an
        HTTP error status, say); one that broke was closed by urllib3 already.  The
        retry itself refuses any pooled connection (``Attempt.fresh_connection``), so
        it runs on a fresh one even if another thread returned one meanwhile.
        """
        self.adapter.close_idle(attempt.endpoint)

    # -- zeep's entry point for a plain zeep.Client ------------------------------------------
    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> Any:
        """A call made by a plain ``zeep.Client``: the same rules, on the same bytes.

        The operation name comes from the SOAPAction (or the first Body element), and a
        retry resends these very bytes.
        """
        ctx = standalone_context(self.config, address, message, headers, self.secrets)

        def send(attempt: Attempt) -> requests.Response:
            return self.exchange(attempt, attempt.endpoint, message, headers, give_back=True)

        try:
            return self.runner.run(ctx, send)
        except SoapGuardError as exc:
            if isinstance(exc.__cause__, _RetryableStatus):  # give zeep the response, as usual
                return exc.__cause__.response
            raise
        except _RetryableStatus as exc:
            return exc.response

    def exchange(
        self,
        attempt: Attempt,
        address: str,
        message: bytes | str,
        headers: dict[str, str],
        *,
        give_back: bool = False,
    ) -> requests.Response:
        """Send ``message`` once, for ``attempt``; its connection records what happens.

        Low-level failures are classified here, once, against this attempt's evidence.
        With ``give_back`` a 502/503/504 response is raised (so the rules can retry it)
        instead of returned.
        """
        timeout, headers = start(attempt, self.config, self.operation_timeout, headers)
        attempt.tls_verify = self.adapter.trust.current(True)[0].verify is not False
        log_payload(logger, self.config, address, message)
        proxies = self._proxies.for_url(address)
        with sending(attempt), mapped_errors(attempt, error_for):
            response = self._send(address, message, headers, timeout, proxies)
        if self.config.log_payloads:
            log_payload(logger, self.config, address, response.content, response.status_code)
        if give_back and response.status_code in TRANSIENT_STATUSES:
            raise _RetryableStatus(response=response)
        return response

    def _send(
        self,
        address: str,
        message: bytes | str,
        headers: dict[str, str],
        timeout: Any,
        proxies: dict[str, str],
    ) -> requests.Response:
        """One POST, by the cheapest path that behaves exactly like requests' own.

        * the lean path (:mod:`.lean`): soapguard's adapter and urllib3 pool straight,
          when nothing of the session, no proxy and no mock could make a difference;
        * a session with no cookies, auth, params or hooks and ``trust_env`` off: the
          request prepared as ``Session.request`` would, then ``Session.send`` (so
          adapters, mocks, proxies and redirects behave as usual);
        * anything else: ``Session.post``, requests' full path.
        """
        session = self.session
        if not lean.plain_session(session):
            self.paths.add("requests")
            return self.session.post(
                address,
                data=message,
                headers=headers,
                timeout=timeout,
                proxies=proxies,
                hooks=hooks_with(check_call_redirect, session),
            )
        target = lean.target_for(self._targets, address)
        prepared, wire = lean.prepare(session, target, message, headers, self._header_check)
        if (
            not proxies
            and lean.lean_ready(session, self.adapter)
            and session.get_adapter(target.url) is self.adapter
        ):
            self.paths.add("lean")
            return lean.send(session, self.adapter, target, prepared, wire, timeout)
        self.paths.add("prepared")
        setattr(prepared, "_cookies", RequestsCookieJar())  # noqa: B010 - redirects copy it
        return session.send(
            prepared,
            timeout=timeout,
            proxies=proxies,
            verify=session.verify,
            cert=session.cert,
            stream=session.stream,
            allow_redirects=True,
        )

    def get(self, address: str, params: Any, headers: dict[str, str]) -> Any:
        return self.session.get(
            address,
            params=params,
            headers=headers,
            timeout=self.operation_timeout,
            proxies=self._proxies.for_url(address),
            hooks=hooks_with(check_document_redirect, self.session),
        )

    def load(self, url: str) -> bytes:
        """zeep's WSDL/XSD loading; a failure is scrubbed (its URL may carry a token)."""
        self.secrets.add_url(url)
        with guarded(active_scope() or self.secrets):  # a client's own load: its wider scope
            content: bytes = super().load(url)  # type: ignore[no-untyped-call]
        return content

    def _load_remote_data(self, url: str) -> bytes:
        response = self.session.get(
            url,
            timeout=self.load_timeout,
            proxies=self._proxies.for_url(url),
            hooks=hooks_with(check_document_redirect, self.session),
        )
        try:
            response.raise_for_status()
            return response.content
        finally:
            response.close()

    def close(self) -> None:
        """Close pooled connections (zeep calls this when a Client is used as a context manager)."""
        if self._close_session:
            self.session.close()

    # -- proxies, resolved once ----------------------------------------------------


def _refuse_foreign_adapters(session: requests.Session) -> None:
    """A session whose own adapter would carry soapguard's calls is a configuration error.

    soapguard mounts its adapter for ``http://`` and ``https://``; requests picks the
    longest matching prefix, so an adapter the user mounted for a more specific prefix
    (``https://host/``) would make the connections instead -- connections soapguard can
    neither observe (how far a request got) nor harden (its TLS settings).  Adapters for
    other schemes (a ``mock://`` test adapter) are left alone.
    """
    for prefix, adapter in session.adapters.items():
        low = prefix.lower()
        if low in ("http://", "https://") or not low.startswith(("http://", "https://")):
            continue
        if isinstance(adapter, SoapGuardAdapter):
            continue
        raise ConfigError(
            [
                (
                    "Transport(session=...)",
                    f"the session has its own {type(adapter).__name__} mounted for {prefix!r}, "
                    "which soapguard can neither observe nor harden; unmount it (soapguard "
                    "mounts its own for http:// and https://), or call that endpoint with "
                    "zeep.Transport instead",
                )
            ]
        )


class BoundTransport:
    """A :class:`Transport` bound to one attempt of a guarded call.

    ``soapguard.Client`` hands zeep this object as the client's transport for one
    attempt, so the attempt reaches the transport explicitly: zeep's ``post_xml`` on
    it sends for that attempt and nothing else.  Everything else is the transport's.
    """

    __slots__ = ("_attempt", "_transport")

    def __init__(self, transport: Transport, attempt: Attempt) -> None:
        self._transport = transport
        self._attempt = attempt

    def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> requests.Response:
        message: bytes = etree_to_string(envelope)  # type: ignore[no-untyped-call]
        return self._transport.exchange(self._attempt, address, message, headers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
