"""TLS settings: safe profiles and one verified, cached ``ssl.SSLContext`` per config.

* Profiles fix protocol versions and cipher suites (see ``docs/tls.md``).
* :data:`FORBIDDEN_CIPHERS` is appended to every cipher string, so RC4, 3DES,
  DES, NULL, EXPORT, MD5, anonymous, PSK and SRP suites can never be enabled,
  whatever ``SOAPGUARD_CIPHERS`` says.
* The OpenSSL security level is the configured one (``SOAPGUARD_TLS_SECURITY_LEVEL``),
  stated in the cipher string when it is not OpenSSL's default, and checked on
  the built context; a cipher string cannot change it.
* soapguard never renegotiates (``OP_NO_RENEGOTIATION``).  Whether a peer without
  RFC 5746 secure renegotiation is reached is ``SOAPGUARD_TLS_LEGACY_RENEGOTIATION``
  alone (``OP_LEGACY_SERVER_CONNECT``, cleared otherwise: OpenSSL 1.1.1 sets it by
  default, OpenSSL 3 does not), so the same setting behaves the same on both.
* Record caps and TLS 1.3 suites go through :mod:`soapguard.tls._openssl`; if that
  bridge cannot be used safely the context still works, :func:`caps_state`
  says why, and one ``RuntimeWarning`` is issued per process.
* :func:`context_for` builds a context once per set of TLS settings: loading a
  CA bundle costs tens of milliseconds, which requests pays on every connection.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import ssl
import threading
import warnings
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from ..config import Config, label
from ..errors import ConfigError
from ..transport.deadline import DeadlineSSLSocket
from ..transport.evidence import ConnInfo
from . import pins, profiles
from . import trace as _trace
from .material import client_certificate, load_ca, load_client_cert

logger = logging.getLogger(__name__)

_CACHE_SIZE = 32


@dataclass(frozen=True)
class CapsState:
    """Whether the settings that need the OpenSSL bridge were applied to a context."""

    #: None: nothing in the configuration needed the bridge, so it was not used
    applied: bool | None
    max_send_fragment: int | None = None
    #: the max_fragment_length *requested* from the server, in bytes
    max_fragment_length: int | None = None
    tls13_suites_applied: bool = False
    #: why not applied (empty when everything was)
    detail: str = ""


#: the Config fields a context depends on (its cache key, with ``verify``)
_TLS_FIELDS = (
    "tls_profile", "tls_min_version", "tls_max_version", "ciphers", "tls13_ciphersuites",
    "max_record_size", "ca_bundle", "client_cert", "client_key", "client_key_password",
    "tls_security_level", "tls_legacy_renegotiation", "trace_records", "pinned_keys",
)  # fmt: skip


class _SharedContext(ssl.SSLContext):
    """A context shared by many connections across threads.

    urllib3 calls ``set_alpn_protocols`` on every connection.  On a shared
    context that frees the ALPN buffer another thread's ``SSL_new`` may be
    copying (CPython runs it without the GIL), so an unchanged list is not set again.
    """

    _alpn: tuple[str, ...] | None = None
    #: its sockets never wait past the deadline of the call they send for
    sslsocket_class = DeadlineSSLSocket

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        protocols = tuple(alpn_protocols)
        if protocols != self._alpn:
            super().set_alpn_protocols(protocols)
            self._alpn = protocols


_lock = threading.Lock()
_contexts: collections.OrderedDict[tuple[object, ...], ssl.SSLContext] = collections.OrderedDict()
_caps: weakref.WeakKeyDictionary[ssl.SSLContext, CapsState] = weakref.WeakKeyDictionary()
_warned: set[str] = set()


def security_level(config: Config) -> int:
    """The OpenSSL security level of ``config``'s context.

    Levels 0 and 1 are what the configuration asks for; at 2 a stricter system
    default (some distributions use 3) is kept, a laxer one is raised to 2.
    """
    level = config.tls_security_level
    return level if level < 2 else max(level, profiles.default_security_level())


def version_bounds(config: Config) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    """The (minimum, maximum) TLS versions for ``config``: its own, else its profile's."""
    low, high = profiles.PROFILE_VERSIONS[config.tls_profile]
    if config.tls_min_version is not None:
        low = profiles.VERSIONS[config.tls_min_version]
    if config.tls_max_version is not None:
        high = profiles.VERSIONS[config.tls_max_version]
    if low > high:  # configuration refuses this; kept as a last line of defence
        raise ConfigError(
            [(label(config, "tls_max_version"), f"is below the minimum TLS version ({low.name})")]
        )
    return low, high


def cipher_string(config: Config) -> str:
    """The OpenSSL cipher string (TLS <= 1.2) for ``config``, forbidden suites excluded.

    It starts with ``@SECLEVEL=n`` when the configured level is not OpenSSL's
    default (level 0 is what OpenSSL 3 needs for TLS 1.0/1.1, and configuration
    allows it only with them).
    """
    base = (
        config.ciphers
        if config.ciphers is not None
        else profiles.PROFILE_CIPHERS[config.tls_profile]
    )
    return profiles.compose(base, security_level(config))


def tls13_ciphersuites(config: Config) -> str | None:
    """The TLS 1.3 suites ``config`` asks for (None: OpenSSL's defaults, all allowed AEAD).

    Names that are not allowed AEAD suites are dropped.
    """
    raw = config.tls13_ciphersuites or profiles.PROFILE_TLS13[config.tls_profile]
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(":") if n.strip()]
    kept = list(dict.fromkeys(n for n in names if n in profiles.TLS13_ALLOWED))
    dropped = sorted(set(names) - set(kept))
    if dropped:
        logger.warning("ignoring TLS 1.3 suites that soapguard does not allow: %s", dropped)
    if not kept:
        allowed = ", ".join(profiles.TLS13_ALLOWED)
        raise ConfigError(
            [(label(config, "tls13_ciphersuites"), f"names no allowed suite ({allowed})")]
        )
    return ":".join(kept)


def context_for(
    config: Config, *, verify: bool | str = True, ca_source: str = "verify"
) -> ssl.SSLContext:
    """The client context for ``config``, built once and shared (do not modify it).

    ``verify`` is ``True`` (verify against ``config.ca_bundle`` or the system
    store), a CA file/directory path that replaces ``config.ca_bundle``, or
    ``False`` (no verification at all; only reachable from code).  ``ca_source``
    names where a ``verify`` path came from, for errors (see
    :func:`soapguard.tls.trust.resolve_trust`).  Every problem with the settings or
    the files they name raises :class:`ConfigError`.
    """
    key = (*(getattr(config, name) for name in _TLS_FIELDS), verify)
    with _lock:
        ctx = _contexts.get(key)
        if ctx is not None:
            _contexts.move_to_end(key)
            return ctx
        ctx = _build(config, verify, ca_source)
        _contexts[key] = ctx
        if len(_contexts) > _CACHE_SIZE:
            _contexts.popitem(last=False)
        return ctx


def clear_cache() -> None:
    """Forget cached contexts (e.g. after replacing a CA bundle file in place)."""
    with _lock:
        _contexts.clear()


def _build(config: Config, verify: bool | str, ca_source: str) -> ssl.SSLContext:
    ctx = _SharedContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_alpn_protocols(["http/1.1"])  # what urllib3 sets: a no-op from then on
    ctx.minimum_version, ctx.maximum_version = version_bounds(config)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_TICKET
    _set_legacy_server_connect(ctx, config)
    ctx.set_ciphers(cipher_string(config))
    _check_no_forbidden(ctx, config)
    if verify is False:
        if "verify" not in _warned:
            _warned.add("verify")
            logger.warning("TLS certificate verification is disabled by code (verify=False)")
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str):
        load_ca(ctx, verify, ca_source, show_path=True)
    else:
        load_ca(ctx, config.ca_bundle, label(config, "ca_bundle"), show_path=False)
    load_client_cert(ctx, config)
    pins.register(ctx, config.pinned_keys)
    if config.trace_records and _trace.available():
        _trace.install(ctx)
    _caps[ctx] = _apply_caps(ctx, config)
    return ctx


def _set_legacy_server_connect(ctx: ssl.SSLContext, config: Config) -> None:
    """Reach peers without secure renegotiation only when configured; never renegotiate."""
    allowed = config.tls_legacy_renegotiation
    if allowed:
        ctx.options |= profiles.OP_LEGACY_SERVER_CONNECT
    else:
        ctx.options &= ~profiles.OP_LEGACY_SERVER_CONNECT
    legacy = bool(ctx.options & profiles.OP_LEGACY_SERVER_CONNECT)
    if legacy != allowed or not ctx.options & ssl.OP_NO_RENEGOTIATION:
        raise ConfigError(  # OpenSSL ignored an option: refuse rather than run unlike configured
            [(label(config, "tls_legacy_renegotiation"), "OpenSSL did not apply its option")]
        )


def _check_no_forbidden(ctx: ssl.SSLContext, config: Config) -> None:
    bad = [
        c["name"] for c in ctx.get_ciphers() if profiles.BAD_DESCRIPTION.search(c["description"])
    ]
    if bad:  # the suffix makes this unreachable; kept as a last line of defence
        raise ConfigError([(label(config, "ciphers"), f"enables forbidden suites {bad}")])
    wanted = security_level(config)
    if ctx.security_level != wanted:  # configuration refuses @SECLEVEL in SOAPGUARD_CIPHERS
        raise ConfigError(
            [(label(config, "ciphers"), f"sets security level {ctx.security_level}, not {wanted}")]
        )


def _tls13_names(ctx: ssl.SSLContext) -> list[str]:
    return [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.3"]


def _apply_caps(ctx: ssl.SSLContext, config: Config) -> CapsState:
    """Apply what only the OpenSSL bridge can set -- and touch the bridge only if needed.

    A configuration without record caps whose TLS 1.3 suites are OpenSSL's (allowed)
    defaults never loads the bridge: an interpreter it does not know costs nothing to
    users who did not ask for those settings.
    """

    size = config.max_record_size
    requested_mfl = size if size in profiles.MFL_SIZES else None
    suites = tls13_ciphersuites(config)
    current = _tls13_names(ctx)
    defaults_ok = all(name in profiles.TLS13_ALLOWED for name in current)
    if suites is None and not defaults_ok:
        suites = ":".join(n for n in current if n in profiles.TLS13_ALLOWED)  # narrow them
    if size is None and (suites is None or sorted(suites.split(":")) == sorted(current)):
        return CapsState(applied=None, detail="nothing requested needs the OpenSSL bridge")
    from . import _openssl  # ctypes: loaded only when something needs the bridge

    try:
        done = _openssl.apply(
            ctx, max_send_fragment=size, max_fragment_length=requested_mfl, tls13_suites=suites
        )
    except _openssl.BridgeError as exc:
        reason = str(exc)
        if "bridge" not in _warned:
            _warned.add("bridge")
            message = (
                f"soapguard cannot set TLS record caps or TLS 1.3 suites on this interpreter "
                f"({reason}); connections work without them (tls.caps_applied=false)"
            )
            logger.warning("%s", message)
            warnings.warn(message, RuntimeWarning, stacklevel=4)
        return CapsState(applied=False, detail=reason)
    # Python's own view of the context must now show exactly the suites we set.
    suites_ok = suites is None or (
        done.tls13_suites and sorted(_tls13_names(ctx)) == sorted(suites.split(":"))
    )
    detail = "" if suites_ok else "OpenSSL did not accept the TLS 1.3 suites"
    if detail:
        logger.warning("TLS 1.3 suites %s were not applied; OpenSSL defaults remain", suites)
    return CapsState(True, done.max_send_fragment, done.max_fragment_length, suites_ok, detail)


def bridge_available() -> tuple[bool, str]:
    """Whether the OpenSSL bridge works on this interpreter (proven on a throwaway context)."""
    from . import _openssl  # ctypes: loaded only when something needs the bridge

    try:
        _openssl.validate(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    except _openssl.BridgeError as exc:
        return False, str(exc)
    return True, ""


def caps_state(ctx: ssl.SSLContext) -> CapsState:
    """What the bridge applied to ``ctx`` (not applied for contexts soapguard did not build)."""
    state = _caps.get(ctx)
    if state is None:
        return CapsState(applied=False, detail="context not built by soapguard.tls.context_for")
    return state


def describe_connection(sock: ssl.SSLSocket | ssl.SSLObject, info: ConnInfo) -> None:
    """Record the TLS facts of an established connection on ``info``."""
    version = sock.version()
    info.tls_version = profiles.version_name(version) if version else None
    cipher = sock.cipher()
    info.cipher = cipher[0] if cipher else None
    info.resumed = sock.session_reused
    info.security_level = sock.context.security_level
    der = sock.getpeercert(binary_form=True)
    info.cert_sha256 = hashlib.sha256(der).hexdigest() if der else None
    info.cert_der = der or None
    info.client_cert = client_certificate(sock.context)
    caps = caps_state(sock.context)
    info.caps_applied = caps.applied
    info.max_send_fragment = caps.max_send_fragment
    info.max_fragment_length = None
    if caps.applied and caps.max_fragment_length is not None:  # only where it was asked for
        try:
            from . import _openssl

            info.max_fragment_length = _openssl.negotiated_max_fragment_length(sock)
        except Exception:  # evidence gathering must never break a connection
            logger.debug("cannot read the negotiated max_fragment_length", exc_info=True)
    records = _trace.stats_for(sock)
    if records is not None:
        info.records = records
