"""Which CAs verify the server: one order, resolved by one pure function.

The first of these that is set wins:

1. ``Config(ca_bundle=...)`` in code;
2. ``SOAPGUARD_CA_BUNDLE``;
3. a ``verify`` path set in code on the user's own ``requests.Session``;
4. ``REQUESTS_CA_BUNDLE``, 5. ``CURL_CA_BUNDLE``, 6. ``SSL_CERT_FILE``
   (read only with ``Config.trust_env``, the default);
7. the system store.

requests itself lets ``REQUESTS_CA_BUNDLE`` replace a path the code set on
its session (and even ``verify=False``), on every request.  soapguard does
not: a path written in code is a deliberate choice, a variable of another
tool may be left over in the environment.  ``session.verify = False`` (code
only) switches verification off whatever the order says.

:func:`resolve_trust` decides; :class:`SessionTrust` applies the decision to
one transport's session: it reads the environment once and builds the
context when the transport is built, so a missing or broken CA file is a
:class:`~soapguard.ConfigError` naming its variable then, not a connection
error later.  The synchronous and the asynchronous clients use the same two.
"""

from __future__ import annotations

import ssl
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..config import Config
from . import context as tls

TrustSource = Literal[
    "Config.ca_bundle",
    "SOAPGUARD_CA_BUNDLE",
    "session.verify",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "system store",
]
#: other tools' CA variables, in the order they are honoured
CA_ENV_VARIABLES: tuple[TrustSource, ...] = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
)


@dataclass(frozen=True)
class Trust:
    """The outcome of :func:`resolve_trust`."""

    source: TrustSource
    #: the CA file or directory; None for the system store or when verification is off
    path: str | None
    #: the argument for :func:`soapguard.tls.context_for`: True (the Config's CA bundle or
    #: the system store), a CA path, or False (verification off, from code)
    verify: bool | str

    @property
    def path_is_secret(self) -> bool:
        """soapguard's own CA setting is treated as sensitive (it may name a customer)."""
        return self.source in ("Config.ca_bundle", "SOAPGUARD_CA_BUNDLE")


def resolve_trust(
    config: Config, session_verify: bool | str | None, environ: Mapping[str, str]
) -> Trust:
    """Where the CAs come from, for ``config``, a session's ``verify`` and an environment."""
    if session_verify is False:
        return Trust("session.verify", None, False)
    if config.ca_bundle:
        env = config.sources.get("ca_bundle") == "env"
        return Trust("SOAPGUARD_CA_BUNDLE" if env else "Config.ca_bundle", config.ca_bundle, True)
    if isinstance(session_verify, str) and session_verify:
        return Trust("session.verify", session_verify, session_verify)
    if config.trust_env:
        for name in CA_ENV_VARIABLES:
            value = environ.get(name, "")
            if value.strip():
                return Trust(name, value, value)
    return Trust("system store", None, True)


def trust_context(config: Config, trust: Trust) -> ssl.SSLContext:
    """The shared context for ``config`` verifying with ``trust``; ConfigError names the source."""
    return tls.context_for(config, verify=trust.verify, ca_source=trust.source)


class SessionTrust:
    """The CA decision for one transport's session.

    Resolved when built (errors surface then); resolved again only when code
    changes ``session.verify`` afterwards.  The per-request ``verify`` requests
    hands an adapter is not used (it may be ``REQUESTS_CA_BUNDLE`` in place of
    the session's own), except an explicit ``False``.
    """

    def __init__(
        self,
        config: Config,
        session: Any = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self._session = weakref.ref(session) if session is not None else None
        env = environ or {}
        self._environ: dict[str, str] = {n: env[n] for n in CA_ENV_VARIABLES if n in env}
        self._by_verify: dict[bool | str | None, tuple[Trust, ssl.SSLContext]] = {}
        self.trust, context = self.current(getattr(session, "verify", None))
        #: the context pools start with; never an unverified one (urllib3 would reset it)
        self.default_context = tls.context_for(config) if self.trust.verify is False else context

    def current(self, request_verify: Any) -> tuple[Trust, ssl.SSLContext]:
        """The trust and context for a request now (cached per ``session.verify`` value)."""
        session = self._session() if self._session is not None else None
        verify = request_verify if session is None else session.verify
        if request_verify is False:
            verify = False
        if not isinstance(verify, bool | str):
            verify = None
        found = self._by_verify.get(verify)
        if found is None:
            trust = resolve_trust(self.config, verify, self._environ)
            found = (trust, trust_context(self.config, trust))
            if len(self._by_verify) < 16:  # a few values at most: True, a path, False
                self._by_verify[verify] = found
        return found
