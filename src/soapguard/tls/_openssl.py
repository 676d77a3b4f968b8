"""A small, validated ctypes bridge to the OpenSSL that CPython's ``ssl`` uses.

Python's :mod:`ssl` cannot set the maximum send fragment, request the
max_fragment_length extension or choose TLS 1.3 cipher suites.  OpenSSL can,
given the ``SSL_CTX*`` behind an :class:`ssl.SSLContext`.  This module finds
that pointer inside the CPython object and calls OpenSSL through ctypes.

Reading a pointer-sized field that lies inside a live Python object is always
safe; *calling OpenSSL with it* is only safe if the field really is the
``SSL_CTX*``.  So nothing is called before structural gates pass (CPython,
known-good versions, non-debug GIL build, same OpenSSL build, expected object
sizes), and nothing is *written* before the context is proven: settings read
through OpenSSL must equal those Python reports, and a change made through
Python must show up on the C side.  Any doubt means "not applied" with a
reason; the caller keeps a working, merely uncapped, context.
"""

from __future__ import annotations

import _ssl
import ctypes
import functools
import logging
import ssl
import sys
import sysconfig
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: interpreters whose ``PySSLContext``/``PySSLSocket`` layouts are known to match
SUPPORTED_PYTHON = ((3, 10), (3, 13))

# From OpenSSL's ssl.h / tls1.h (identical in 1.1.1 and 3.x).
SSL_CTRL_SET_MAX_SEND_FRAGMENT = 52
SSL_CTRL_GET_MIN_PROTO_VERSION = 130
SSL_CTRL_GET_MAX_PROTO_VERSION = 131
_SSL_VERIFY_MASK = 0x03  # SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
_VERIFY_BITS = {ssl.CERT_NONE: 0x00, ssl.CERT_OPTIONAL: 0x01, ssl.CERT_REQUIRED: 0x03}
#: max_fragment_length extension code -> bytes (RFC 6066)
MFL_MODES = {1: 512, 2: 1024, 3: 2048, 4: 4096}

#: the C types behind ssl.SSLContext and SSLSocket._sslobj
_CONTEXT_TYPE: type = _ssl._SSLContext
_SOCKET_TYPE: Any = _ssl._SSLSocket  # type: ignore[attr-defined]
_PTR = ctypes.sizeof(ctypes.c_void_p)
#: sizeof(PyObject_HEAD): the first struct member starts right after it
_HEAD = object.__basicsize__


class BridgeError(Exception):
    """The bridge cannot be used safely; the message says why."""


@dataclass(frozen=True)
class Applied:
    """What :func:`apply` did to one context."""

    max_send_fragment: int | None
    max_fragment_length: int | None
    tls13_suites: bool


class _Lib:
    """Typed OpenSSL entry points; every function has argtypes and restype."""

    def __init__(self, dll: ctypes.CDLL, version: int) -> None:
        p, c_int, c_long = ctypes.c_void_p, ctypes.c_int, ctypes.c_long
        # uint64_t since 3.0; unsigned long (64-bit on LP64) before
        opts = ctypes.c_uint64 if version >= 0x30000000 else ctypes.c_ulong
        self.get_options = _fn(dll, "SSL_CTX_get_options", opts, p)
        self.get_verify_mode = _fn(dll, "SSL_CTX_get_verify_mode", c_int, p)
        self.get_security_level = _fn(dll, "SSL_CTX_get_security_level", c_int, p)
        self.ctx_ctrl = _fn(dll, "SSL_CTX_ctrl", c_long, p, c_int, c_long, p)
        self.set_mfl = _fn(dll, "SSL_CTX_set_tlsext_max_fragment_length", c_int, p, ctypes.c_uint8)
        self.set_ciphersuites = _fn(dll, "SSL_CTX_set_ciphersuites", c_int, p, ctypes.c_char_p)
        self.get_ssl_ctx = _fn(dll, "SSL_get_SSL_CTX", p, p)
        self.get_session = _fn(dll, "SSL_get_session", p, p)
        self.session_mfl = _fn(dll, "SSL_SESSION_get_max_fragment_length", ctypes.c_uint8, p)


def _fn(
    dll: ctypes.CDLL, name: str, restype: object, *argtypes: object
) -> ctypes._NamedFuncPointer:
    try:
        func = getattr(dll, name)
    except AttributeError:
        raise BridgeError(f"OpenSSL symbol {name} not found") from None
    func.restype = restype
    func.argtypes = argtypes
    return func  # type: ignore[no-any-return]


def _gate() -> None:
    """Structural checks that need no call into OpenSSL."""
    impl = sys.implementation.name
    if impl != "cpython":
        raise BridgeError(f"interpreter {impl} is not CPython")
    version = sys.version_info[:2]
    low, high = SUPPORTED_PYTHON
    if not low <= version <= high:
        raise BridgeError(f"CPython {version[0]}.{version[1]} object layout is not known")
    if hasattr(sys, "gettotalrefcount"):
        raise BridgeError("debug build of CPython")
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        raise BridgeError("free-threaded build of CPython")
    if not ssl.OPENSSL_VERSION.startswith("OpenSSL "):
        raise BridgeError(f"ssl is linked against {ssl.OPENSSL_VERSION}, not OpenSSL")
    if ssl.OPENSSL_VERSION_NUMBER < 0x10101000:
        raise BridgeError("OpenSSL older than 1.1.1")
    if _CONTEXT_TYPE.__basicsize__ < _HEAD + _PTR:
        raise BridgeError("unexpected _ssl._SSLContext size")
    if _SOCKET_TYPE.__basicsize__ < _HEAD + 3 * _PTR:
        raise BridgeError("unexpected _ssl._SSLSocket size")


@functools.cache
def _load() -> _Lib:
    _gate()
    # dlsym on _ssl's own handle also searches its dependencies, so this finds the
    # libssl/libcrypto _ssl really uses, whether linked dynamically or statically.
    path = getattr(_ssl, "__file__", None)
    try:
        # PyDLL: the GIL stays held during each call, so no Python thread can change the
        # context (through ssl) while OpenSSL reads or writes it here
        dll = ctypes.PyDLL(path)
    except OSError as exc:
        raise BridgeError(f"cannot load the _ssl module's library: {exc}") from None
    version_num = _fn(dll, "OpenSSL_version_num", ctypes.c_ulong)
    found = int(version_num())
    if found != ssl.OPENSSL_VERSION_NUMBER:
        raise BridgeError(
            f"OpenSSL found by ctypes ({found:#x}) is not the one ssl uses "
            f"({ssl.OPENSSL_VERSION_NUMBER:#x})"
        )
    return _Lib(dll, found)


def library() -> _Lib:
    """The loaded bridge, or :class:`BridgeError` saying why it is unusable."""
    return _load()


def _field(obj: object, index: int) -> int:
    """Pointer-sized struct member ``index`` after ``PyObject_HEAD`` (a pure read)."""
    value = ctypes.c_void_p.from_address(id(obj) + _HEAD + index * _PTR).value
    return value or 0


def _ctx_pointer(ctx: ssl.SSLContext) -> int:
    if not isinstance(ctx, _CONTEXT_TYPE):
        raise BridgeError(f"{type(ctx).__name__} is not an _ssl._SSLContext")
    pointer = _field(ctx, 0)
    if not pointer:
        raise BridgeError("SSL_CTX pointer is NULL")
    return pointer


def _proto(lib: _Lib, pointer: int, cmd: int) -> int:
    return int(lib.ctx_ctrl(pointer, cmd, 0, None))


def _mismatch(lib: _Lib, pointer: int, ctx: ssl.SSLContext) -> str | None:
    """First difference between OpenSSL's view of ``pointer`` and Python's view of ctx."""
    opts = int(lib.get_options(pointer))
    if opts != int(ctx.options):
        return f"options differ (C {opts:#x}, Python {int(ctx.options):#x})"
    verify = int(lib.get_verify_mode(pointer)) & _SSL_VERIFY_MASK
    if verify != _VERIFY_BITS[ctx.verify_mode]:
        return f"verify mode differs (C {verify}, Python {ctx.verify_mode!r})"
    # OpenSSL's 0 means "no bound"; Python reports it as MINIMUM/MAXIMUM_SUPPORTED
    for cmd, py, unbounded in (
        (SSL_CTRL_GET_MIN_PROTO_VERSION, ctx.minimum_version, ssl.TLSVersion.MINIMUM_SUPPORTED),
        (SSL_CTRL_GET_MAX_PROTO_VERSION, ctx.maximum_version, ssl.TLSVersion.MAXIMUM_SUPPORTED),
    ):
        c_value = _proto(lib, pointer, cmd)
        if (c_value == 0 and py != unbounded) or (c_value != 0 and c_value != int(py)):
            return f"protocol bound differs (C {c_value:#x}, Python {py!r})"
    level = int(lib.get_security_level(pointer))
    if level != ctx.security_level:
        return f"security level differs (C {level}, Python {ctx.security_level})"
    return None


def validate(ctx: ssl.SSLContext) -> int:
    """Prove that we hold ctx's ``SSL_CTX*`` and return it, else raise BridgeError.

    The context must not be in use by other threads: the round trip briefly
    toggles a server-only option bit (harmless for a client) through Python.
    """
    lib = library()
    pointer = _ctx_pointer(ctx)
    problem = _mismatch(lib, pointer, ctx)
    if problem:
        raise BridgeError(f"context read-back failed: {problem}")
    original = ctx.options
    probe = ssl.Options.OP_CIPHER_SERVER_PREFERENCE
    try:
        ctx.options = original ^ probe
        seen = int(lib.get_options(pointer))
    finally:
        ctx.options = original
    if seen != int(original ^ probe) or int(lib.get_options(pointer)) != int(original):
        raise BridgeError("context round trip failed: a Python change was not seen by OpenSSL")
    return pointer


def apply(
    ctx: ssl.SSLContext,
    *,
    max_send_fragment: int | None,
    max_fragment_length: int | None,
    tls13_suites: str | None,
) -> Applied:
    """Validate ctx, then write the requested settings.  Raises BridgeError if unsafe.

    ``max_fragment_length`` is in bytes and must be a key of the RFC 6066 table
    (512, 1024, 2048, 4096).
    """
    modes = {size: mode for mode, size in MFL_MODES.items()}
    if max_fragment_length is not None and max_fragment_length not in modes:
        raise ValueError(f"max_fragment_length must be one of {sorted(modes)}")
    if max_send_fragment is not None and not 512 <= max_send_fragment <= 16384:
        raise ValueError("max_send_fragment must be from 512 to 16384")
    lib = library()
    pointer = validate(ctx)
    if max_send_fragment is not None:
        ok = lib.ctx_ctrl(pointer, SSL_CTRL_SET_MAX_SEND_FRAGMENT, max_send_fragment, None)
        if ok != 1:
            raise BridgeError(f"OpenSSL refused max send fragment {max_send_fragment}")
    if max_fragment_length is not None and lib.set_mfl(pointer, modes[max_fragment_length]) != 1:
        raise BridgeError(f"OpenSSL refused max_fragment_length {max_fragment_length}")
    suites_ok = (
        tls13_suites is not None and lib.set_ciphersuites(pointer, tls13_suites.encode()) == 1
    )
    return Applied(max_send_fragment, max_fragment_length, suites_ok)


def negotiated_max_fragment_length(sock: ssl.SSLSocket | ssl.SSLObject) -> int | None:
    """The max_fragment_length (bytes) agreed on ``sock``'s session, if any.

    The ``SSL*`` read from the socket object is trusted only if the object's
    layout checks out and OpenSSL says it belongs to ``sock.context``'s
    ``SSL_CTX*``.  Returns None when nothing was negotiated or when the socket
    cannot be proven.
    """
    sslobj: Any = getattr(sock, "_sslobj", None)
    if not isinstance(sslobj, _SOCKET_TYPE):
        return None
    try:
        lib = library()
        ctx_pointer = _ctx_pointer(sslobj.context)
    except BridgeError:
        return None
    # PySSLSocket is {PyObject_HEAD; PyObject *Socket; SSL *ssl; PySSLContext *ctx; ...}:
    # its ctx member must be the very context object Python reports.
    if _field(sslobj, 2) != id(sslobj.context):
        logger.debug("SSLSocket layout check failed; max_fragment_length unknown")
        return None
    ssl_pointer = _field(sslobj, 1)
    if not ssl_pointer or lib.get_ssl_ctx(ssl_pointer) != ctx_pointer:
        logger.debug("SSL* does not belong to the socket's context; max_fragment_length unknown")
        return None
    session = lib.get_session(ssl_pointer)
    if not session:
        return None
    return MFL_MODES.get(int(lib.session_mfl(session)))
