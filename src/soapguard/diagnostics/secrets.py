"""Secret scopes: the secret values one client knows, and the call they apply to.

Masking by *name* (a ``Password`` element, an ``Authorization`` header, a
``token=`` pair) needs no knowledge of the values.  Masking by *value* does: a
server that echoes the request back in an error body puts the WS-Security
password, the bearer token or a cookie where no name announces it.  Each
:class:`soapguard.Client` and :class:`soapguard.Transport` therefore owns a
:class:`SecretScope` holding what it alone knows: its WS-Security passwords,
its session's auth password, secret header and cookie values, credentials in
the URLs of its WSDL and endpoints, and its sensitive element names.

While a soapguard call runs, :func:`call_scope` makes that call's scope the
*active* one for the current thread or task (a context variable).  Redaction
(:mod:`soapguard.diagnostics.redact`) always applies the active scope in addition to what
its caller passes, and the log filter (:mod:`soapguard.diagnostics.logs`) rewrites a
record only when a scope is active, so records of a plain ``zeep.Client`` in
the same process are left alone.

What a scope refuses to do:

* search for very short values (fewer than :data:`MIN_SECRET_LENGTH`
  characters) everywhere: a password ``"1"`` would garble every number in
  every message, and the garbling itself would reveal it.  Short secrets are
  still masked where they are known to appear, by element or header name;
* share values between clients: one client's password never masks (and so
  never reveals) anything in another client's text;
* keep values anywhere but in memory, or ever log them.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

from ._patterns import is_secret_header, is_secret_param

__all__ = [
    "MIN_SECRET_LENGTH",
    "SecretScope",
    "active_scope",
    "call_scope",
    "guarded",
]

#: values shorter than this are not searched for by value (see the module docs)
MIN_SECRET_LENGTH = 6

Source = Callable[[], Iterable[str]]


def encodings(value: str) -> set[str]:
    """The forms ``value`` takes in text soapguard may see.

    As is and XML/HTML-escaped; each of those as Python prints it inside a
    ``str`` or ``bytes`` repr (zeep puts ``%r`` of a bad body into its
    messages) and JSON-escaped; and percent-encoded (path and form style).
    """
    import html  # with its entity table: only once there are secrets to mask

    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    plain = {value, escaped, html.escape(value, quote=True)}
    forms = set(plain)
    for form in plain:
        forms.update((repr(form)[1:-1], repr(form.encode("utf-8", "replace"))[2:-1]))
        forms.update((json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1]))
    forms.update((quote(value, safe=""), quote(value), quote_plus(value)))
    return {f for f in forms if f}


def url_secrets(url: str) -> set[str]:
    """Credentials a URL carries: user-info parts and values of credential-like parameters."""
    if "@" not in url and "=" not in url:  # neither user-info nor a name=value pair
        return set()
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    found: set[str] = set()
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:  # the user name alone is no secret; requests sends both as HTTP Basic
        user, _, password = userinfo.partition(":")
        found.update((userinfo, password, unquote(password)))
        basic = f"{unquote(user)}:{unquote(password)}".encode()
        found.add(base64.b64encode(basic).decode("ascii"))
    for segment in (parts.query, parts.fragment, *parts.path.split(";")[1:]):
        for pair in segment.replace(";", "&").split("&"):
            name, eq, value = pair.partition("=")
            if eq and value and is_secret_param(name):
                found.update((value, unquote(value.replace("+", " "))))
    return found


def auth_secrets(auth: Any) -> set[str]:
    """The password of a requests ``auth`` (a ``(user, password)`` tuple or an auth object)."""
    if auth is None:
        return set()
    user = getattr(auth, "username", None)
    password = getattr(auth, "password", None)
    if isinstance(auth, tuple) and len(auth) == 2:
        user, password = auth
    if isinstance(password, bytes):
        password = password.decode("utf-8", "replace")
    if isinstance(user, bytes):
        user = user.decode("utf-8", "replace")
    if not isinstance(password, str) or not password:
        return set()
    found = {password}
    if isinstance(user, str):  # HTTP Basic sends base64("user:password")
        found.add(base64.b64encode(f"{user}:{password}".encode()).decode("ascii"))
    return found


def header_secrets(headers: Any) -> set[str]:
    """Values of credential-bearing headers, and the credential part of each."""
    found: set[str] = set()
    for name, value in dict(headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str | bytes):
            continue
        if not is_secret_header(name):
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        found.add(text)
        scheme, _, credential = text.strip().partition(" ")
        found.add(credential.strip() or scheme)
        for pair in text.split(";"):  # Cookie: a=1; b=2
            found.add(pair.partition("=")[2].strip())
    return found


def session_secrets(session: Any) -> set[str]:
    """What a requests session holds: auth, secret headers, cookie values, proxy credentials."""
    found = auth_secrets(getattr(session, "auth", None))
    found |= header_secrets(getattr(session, "headers", None))
    cookies = getattr(session, "cookies", None)
    with contextlib.suppress(Exception):  # a foreign cookie jar: its values stay unknown
        found.update(c.value for c in list(cookies or ())[:256] if isinstance(c.value, str))
    for url in dict(getattr(session, "proxies", None) or {}).values():
        if isinstance(url, str):
            found |= url_secrets(url)
    return found


class SecretScope:
    """Secret values and sensitive element names known to one client or transport.

    Values come from :meth:`add` and :meth:`add_url`, and from *sources*:
    callables polled when a redaction needs the values (so a session's
    ``auth`` or headers set after the client was built are still known).  A
    scope may have a ``parent`` whose values and names it includes (a client
    includes its transport's).  Thread-safe.
    """

    def __init__(self, sensitive: Iterable[str] = (), *, parent: SecretScope | None = None):
        self._lock = threading.Lock()
        self._parent = parent
        self._values: set[str] = set()
        self._sources: list[Source] = []
        self._sensitive = frozenset(n.strip().lower() for n in sensitive if n and n.strip())
        self._cache_key: frozenset[str] | None = None
        self._variants: tuple[str, ...] = ()

    def add(self, *values: Any) -> None:
        """Remember secret values (non-strings and empty strings are ignored)."""
        new = {v for v in values if isinstance(v, str) and v}
        if new:
            with self._lock:
                self._values |= new

    def add_url(self, url: Any) -> None:
        """Remember the credentials ``url`` carries (user-info, credential-like parameters)."""
        if isinstance(url, str):
            self.add(*url_secrets(url))

    def add_source(self, source: Source) -> None:
        """Poll ``source()`` for more values whenever this scope's values are needed."""
        with self._lock:
            self._sources.append(source)

    def add_sensitive(self, names: Iterable[str]) -> None:
        """Element/attribute local names whose text is masked (matched case-insensitively)."""
        new = frozenset(n.strip().lower() for n in names if n and n.strip())
        with self._lock:
            self._sensitive = self._sensitive | new

    @property
    def sensitive(self) -> frozenset[str]:
        """This scope's sensitive names and its parent's, lower case."""
        own = self._sensitive
        return own | self._parent.sensitive if self._parent is not None else own

    def values(self) -> frozenset[str]:
        """Every value known now, short ones included (never log this)."""
        with self._lock:
            found = set(self._values)
            sources = list(self._sources)
        for source in sources:
            with contextlib.suppress(Exception):  # a broken source must not break redaction
                found.update(v for v in source() if isinstance(v, str) and v)
        if self._parent is not None:
            found |= self._parent.values()
        return frozenset(found)

    def variants(self) -> tuple[str, ...]:
        """Every encoded form of every searchable value, longest first.

        Values shorter than :data:`MIN_SECRET_LENGTH` are left out (they are
        masked by name only).  Cached until the set of values changes.
        """
        key = frozenset(v for v in self.values() if len(v) >= MIN_SECRET_LENGTH)
        if key != self._cache_key:
            forms: set[str] = set()
            for value in key:
                forms |= encodings(value)
            self._variants = tuple(sorted(forms, key=len, reverse=True))
            self._cache_key = key
        return self._variants


_active: contextvars.ContextVar[SecretScope | None] = contextvars.ContextVar(
    "soapguard_secret_scope", default=None
)
#: the scope of a call that was given none: masking by name still applies
_UNNAMED = SecretScope()


def active_scope() -> SecretScope | None:
    """The scope of the soapguard call running in this thread or task, if any."""
    return _active.get()


class call_scope:  # lower case: used like a function, ``with call_scope(scope):``
    """Make ``scope`` the active one for the block (innermost wins; restored after)."""

    __slots__ = ("_scope", "_token")

    def __init__(self, scope: SecretScope | None) -> None:
        self._scope = scope if scope is not None else _UNNAMED

    def __enter__(self) -> SecretScope:
        self._token = _active.set(self._scope)
        return self._scope

    def __exit__(self, *exc_info: object) -> None:
        _active.reset(self._token)


class guarded(call_scope):  # lower case: used like a function, ``with guarded(scope):``
    """Run a block outside the retry loop (WSDL loading) as a soapguard call would.

    ``scope`` is active in the block (see :class:`call_scope`), and an
    exception leaving it has its chain scrubbed
    (:func:`soapguard.diagnostics.scrub.scrub_chain`) before it propagates.
    """

    __slots__ = ()

    def __exit__(self, *exc_info: object) -> None:
        try:
            exc = exc_info[1] if exc_info else None
            if isinstance(exc, Exception):  # scrubbed while the scope is still active
                from .scrub import scrub_chain

                scrub_chain(exc)
        finally:
            super().__exit__()
