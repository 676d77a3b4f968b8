"""Hand ``SSLContext.load_cert_chain`` a certificate and key that exist only in memory.

``load_cert_chain`` takes file names only, and a key that arrived in a PKCS#12
file has no PEM file of its own.  Writing it to disk (even briefly, even in a
private directory) is what this module exists to avoid, and an anonymous
in-memory file is no better for a decrypted key: other processes of the same
user can read it through ``/proc/<pid>/fd``.

So the caller re-encrypts the key under a random one-time password that never
leaves this process, and :func:`load_cert_chain` passes the *encrypted* PEM to
OpenSSL through a path that names no file on disk:

* an anonymous ``memfd`` opened as ``/proc/self/fd/N`` (Linux);
* else a pipe opened as ``/dev/fd/N`` (macOS, the BSDs), fed by a thread;
* else nothing: :class:`Unavailable` (Windows has neither).

Whoever manages to read either sees a key encrypted with a password they do not have.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
from collections.abc import Iterator

__all__ = ["Unavailable", "load_cert_chain", "method"]


class Unavailable(RuntimeError):
    """This system offers no way to pass a file's content to OpenSSL without a file on disk."""


def method() -> str | None:
    """``"memfd"``, ``"pipe"`` or None: how this system passes in-memory PEM to OpenSSL."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        return "memfd"
    if os.name == "posix" and os.path.isdir("/dev/fd"):
        return "pipe"
    return None


def load_cert_chain(
    ctx: ssl.SSLContext,
    chain_pem: bytes,
    encrypted_key_pem: bytes,
    password: bytes,
    *,
    via: str | None = None,
) -> None:
    """``ctx.load_cert_chain`` from PEM bytes; ``via`` forces ``"memfd"`` or ``"pipe"``.

    ``encrypted_key_pem`` must be encrypted under ``password``: this function does not
    look at it, but the channel it travels through is readable by the same user.
    """
    how = via or method()
    if how == "memfd":
        opener = _memfd
    elif how == "pipe":
        opener = _pipe
    else:
        raise Unavailable("no memfd and no /dev/fd on this system")
    with opener(chain_pem) as cert_path, opener(encrypted_key_pem) as key_path:
        ctx.load_cert_chain(cert_path, key_path, password=password)


@contextlib.contextmanager
def _memfd(data: bytes) -> Iterator[str]:
    fd = os.memfd_create("soapguard-client-cert", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        yield f"/proc/self/fd/{fd}"  # opening it starts a new read at offset 0
    finally:
        os.close(fd)


@contextlib.contextmanager
def _pipe(data: bytes) -> Iterator[str]:
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        # Closing the read end (on any exit below) turns a blocked write into EPIPE.
        with contextlib.suppress(OSError):
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
        os.close(write_fd)

    writer = threading.Thread(target=feed, name="soapguard-pem-pipe", daemon=True)
    writer.start()
    try:
        yield f"/dev/fd/{read_fd}"
    finally:
        os.close(read_fd)
        writer.join(5.0)
