"""Public-key pinning: the peer's *verified* chain must hold one of ``SOAPGUARD_PINNED_KEYS``.

A pin is ``sha256/<base64>`` of a certificate's SubjectPublicKeyInfo (the form
HPKP and curl's ``--pinnedpubkey`` use), so it survives a certificate renewal
that keeps the key.  Any certificate of the chain may match: the server's own,
an intermediate or the root.

Pins add to certificate verification and never replace it: they are compared
with the chain OpenSSL *verified*, after the handshake succeeded, and a context
that does not verify (``verify=False`` in code) has no verified chain, so every
connection made with it is refused when pins are set.

:func:`check` is the one check, called on an established connection before
any request byte is written: by the sync connection
(:mod:`soapguard.transport.adapter`) on its ``SSLSocket`` and by the async
transport on its ``SSLObject``.  The pins come with the context they were built
for (:func:`register`, called by :func:`soapguard.tls.context.context_for`), so a
connection is checked against its own client's pins.
"""

from __future__ import annotations

import ssl
import weakref
from collections.abc import Sequence

from .. import _compat
from ..transport.evidence import ConnInfo

__all__ = ["PinMismatch", "check", "pinned_keys", "register"]

#: OpenSSL's verify code for a certificate refused by the application, not by OpenSSL
X509_V_ERR_APPLICATION_VERIFICATION = 50

_PINS: weakref.WeakKeyDictionary[ssl.SSLContext, tuple[str, ...]] = weakref.WeakKeyDictionary()


class PinMismatch(ssl.SSLCertVerificationError):
    """The verified chain holds none of the pinned keys.  ``presented``: its pins, leaf first.

    A certificate verification error (so urllib3 and requests report it as an
    ``SSLError``, like any certificate refused), raised before any request byte left.
    """

    def __init__(self, presented: Sequence[str], pinned: Sequence[str]) -> None:
        self.presented = tuple(presented)
        self.pinned = tuple(pinned)
        if self.presented:
            shown = ", ".join(self.presented)
            text = (
                f"the server's verified certificate chain ({shown}, server certificate first) "
                f"holds none of the {len(self.pinned)} key(s) in SOAPGUARD_PINNED_KEYS"
            )
        else:
            text = (
                "no verified certificate chain to compare with SOAPGUARD_PINNED_KEYS "
                "(certificate verification is off); pins never replace verification"
            )
        super().__init__(ssl.SSL_ERROR_SSL, text)  # as _ssl raises it: str() is the text
        self.verify_message = text
        self.verify_code = X509_V_ERR_APPLICATION_VERIFICATION

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.presented, self.pinned))


def register(ctx: ssl.SSLContext, pins: Sequence[str]) -> None:
    """Make ``pins`` the keys every connection made with ``ctx`` is checked against."""
    if pins:
        _PINS[ctx] = tuple(pins)


def pinned_keys(ctx: ssl.SSLContext) -> tuple[str, ...]:
    """The pins registered for ``ctx`` (empty: no pinning)."""
    return _PINS.get(ctx, ())


def chain_pins(tls: ssl.SSLSocket | ssl.SSLObject) -> tuple[str, ...]:
    """The pins of ``tls``'s verified chain, leaf first; empty if nothing was verified."""
    if tls.context.verify_mode != ssl.CERT_REQUIRED:
        return ()  # OpenSSL may still hand out the chain it built: it was not verified
    from .x509 import spki_pin  # pins are configured: parse the chain

    return tuple(spki_pin(der) for der in _compat.verified_chain(tls))


def check(tls: ssl.SSLSocket | ssl.SSLObject, info: ConnInfo | None = None) -> None:
    """Raise :class:`PinMismatch` unless ``tls``'s verified chain holds a key pinned for its
    context.  Does nothing when no pins are set.  The chain's pins are recorded on ``info``.

    Call it after the handshake and before writing anything; closing the connection
    on a mismatch is the caller's job.
    """
    pinned = pinned_keys(tls.context)
    if not pinned:
        return
    try:
        presented = chain_pins(tls)
    except ValueError:  # a certificate we cannot read cannot match either
        presented = ()
    if info is not None:
        info.server_pins = presented
    if not set(presented) & set(pinned):
        raise PinMismatch(presented, pinned)
