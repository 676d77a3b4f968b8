"""requests/urllib3 glue: one SSL context per Config, guarded pools, fork safety.

:class:`SoapGuardAdapter` is a ``requests.adapters.HTTPAdapter`` that

* hands urllib3 the SSL context built once per :class:`~soapguard.Config`
  (requests would otherwise make urllib3 re-read the CA bundle on every new
  connection, 20-40 ms each), verifying with the CAs :mod:`soapguard.tls.trust`
  chose (requests would let ``REQUESTS_CA_BUNDLE`` replace the session's own);
* uses the connection and pool classes of :mod:`.connection`: they record how far
  each request got into the attempt's :class:`~soapguard.transport.evidence.Attempt`,
  check the pinned keys (:mod:`soapguard.tls.pins`) before a request byte is written,
  close idle and old connections instead of reusing them, and keep at most
  ``SOAPGUARD_POOL_MAXSIZE`` connections per endpoint (callers beyond it wait);
* keeps urllib3's own retries off (soapguard decides about retries);
* drops its pools in a child process after ``fork()``, so a pooled connection
  is never used by two processes;
* closes one endpoint's idle connections before a retry (:meth:`close_idle`),
  keeping its pool and the pool's limit.
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import Any

from requests import PreparedRequest
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.util import Retry, parse_url

from .._urls import origin
from ..config import Config
from ..tls.trust import SessionTrust
from .connection import PoolPolicy, pool_classes

logger = logging.getLogger(__name__)

#: urllib3 must never retry on its own: a hidden retry could replay a write.  ``read=False``
#: re-raises read errors as they are (as requests' default does), so a read timeout stays a
#: ``requests.ReadTimeout`` instead of a ``ConnectionError(MaxRetryError(...))``.
NO_RETRIES = Retry(
    total=0, connect=0, read=False, redirect=0, status=0, other=0, raise_on_redirect=False
)


# every live adapter, so a fork handler can reset their pools in the child
_ADAPTERS: weakref.WeakSet[SoapGuardAdapter] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for adapter in list(_ADAPTERS):
        adapter.reset_pools()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)


class SoapGuardAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` with soapguard's TLS context, instrumentation and pool hygiene."""

    def __init__(
        self,
        config: Config,
        *,
        pool_connections: int = 10,
        trust: SessionTrust | None = None,
    ):
        self.sg_config = config
        self.trust = trust if trust is not None else SessionTrust(config)
        self.ssl_context = self.trust.default_context
        self.policy = PoolPolicy.of(config)
        self._pool_classes = pool_classes(self.policy)
        self._pid = os.getpid()
        self._sizes = (pool_connections, config.pool_maxsize)
        #: url -> (manager, trust, context, pool) for the lean path (see :meth:`lean_pool`)
        self._lean_pools: dict[str, tuple[Any, Any, Any, Any]] = {}
        super().__init__(
            pool_connections=pool_connections,
            pool_maxsize=config.pool_maxsize,
            max_retries=NO_RETRIES,
            pool_block=True,  # callers beyond the limit wait; see connection._GuardedPool
        )
        _ADAPTERS.add(self)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = True, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(
            connections, maxsize, block=True, ssl_context=self.ssl_context, **pool_kwargs
        )
        self.poolmanager.pool_classes_by_scheme = self._pool_classes

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        if proxy in self.proxy_manager:
            cached: PoolManager = self.proxy_manager[proxy]
            return cached
        manager: PoolManager = super().proxy_manager_for(
            proxy, ssl_context=self.ssl_context, **proxy_kwargs
        )
        manager.pool_classes_by_scheme = self._pool_classes
        return manager

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        """Certificates are the SSL context's business; never touch the pool's CA settings."""

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: bool | str | None, cert: Any = None
    ) -> tuple[Any, Any]:
        url = parse_url(request.url or "")
        host_params = {"scheme": (url.scheme or "http").lower(), "host": url.host, "port": url.port}
        pool_kwargs: dict[str, Any] = {}
        if host_params["scheme"] != "https":
            return host_params, pool_kwargs
        trust, context = self.trust.current(verify)
        if trust.verify is False:
            pool_kwargs["ssl_context"] = context
            pool_kwargs["cert_reqs"] = "CERT_NONE"
        elif context is not self.ssl_context:  # code changed session.verify after building
            pool_kwargs["ssl_context"] = context
        if cert is not None:
            logger.warning("per-request client certificates are ignored; use SOAPGUARD_CLIENT_CERT")
        return host_params, pool_kwargs

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        if os.getpid() != self._pid:  # fork without register_at_fork, belt and braces
            self.reset_pools()
        # A CA path code set on the session after the transport was built is loaded here, so
        # a bad one raises its ConfigError as it is (requests would turn it into InvalidURL).
        self.trust.current(kwargs.get("verify", True))
        return super().send(request, *args, **kwargs)

    def lean_pool(self, url: str, verify: Any) -> Any:
        """The urllib3 pool ``send`` would use for a direct request to ``url``, remembered.

        What ``HTTPAdapter.get_connection_with_tls_context`` looks up on every request:
        remembered per URL for as long as the pool manager, the trust decision and the
        SSL context stay the same and the pool is open (urllib3 closes a pool it evicts).
        """
        if os.getpid() != self._pid:  # as in send
            self.reset_pools()
        trust, context = self.trust.current(verify)
        manager = self.poolmanager
        cached = self._lean_pools.get(url)
        if (
            cached is not None
            and cached[0] is manager
            and cached[1] is trust
            and cached[2] is context
            and cached[3].pool is not None
        ):
            return cached[3]
        request = PreparedRequest()
        request.url = url
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify)
        pool = manager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)
        if len(self._lean_pools) < 256:
            self._lean_pools[url] = (manager, trust, context, pool)
        return pool

    def reset_pools(self) -> None:
        """Forget every pooled connection (after fork: the sockets belong to the parent).

        The old pools are dropped, not closed: in the child, closing would only
        release our copy of the descriptor, and nothing may be written on a
        socket the parent still uses.
        """
        self._pid = os.getpid()
        self._lean_pools = {}
        self.init_poolmanager(*self._sizes)
        self.proxy_manager = {}

    def close(self) -> None:
        """Close every pool and its idle connections (in-flight ones close when they come back).

        urllib3's ``PoolManager.clear()`` only forgets its pools, leaving their sockets to
        the garbage collector, which a traceback kept in a reference cycle may delay.
        """
        for manager in (self.poolmanager, *self.proxy_manager.values()):
            for key in manager.pools.keys():  # noqa: SIM118 - a locked snapshot
                pool = manager.pools.get(key)
                if pool is not None:
                    pool.close()
        super().close()

    def close_idle(self, url: str) -> int:
        """Close the idle connections to ``url``'s origin; its pools and their limits stay.

        Called before a retry, so that it runs on a fresh connection.  Connections in
        use by other threads are left alone.  Returns how many were closed.
        """
        target = origin(url)
        closed = 0
        for manager in (self.poolmanager, *self.proxy_manager.values()):
            # keys() is a locked snapshot; the container refuses plain iteration
            for key in manager.pools.keys():  # noqa: SIM118
                if (
                    key.key_scheme == target.scheme
                    and (key.key_host or "").lower().strip("[]") == target.host
                    and (key.key_port or target.port) == target.port
                ):
                    # the pool may be evicted by another thread meanwhile: then it is gone
                    pool = manager.pools.get(key)
                    if pool is not None:
                        closed += pool.close_idle()
        return closed
