"""Just enough HTTP/1.1 for the plaintext faults: re-frame a response, spot ``Expect``.

Only plain-TCP connections are ever handed to this module (inside TLS the proxy
sees no HTTP).  :class:`Reframer` turns one ``Content-Length`` response into the
same response sent ``Transfer-Encoding: chunked`` or close-delimited, as its bytes
arrive; :func:`expects_continue` says whether a request head asks for
``100 Continue``.  A response it cannot re-frame (no ``Content-Length``, an
interim ``1xx``, a head over :data:`MAX_HEAD` bytes) passes through unchanged.
"""

from __future__ import annotations

from typing import Literal

#: the longest response head the reframer buffers before giving up
MAX_HEAD = 64 * 1024
_END = b"\r\n\r\n"
_FRAMING = (b"content-length", b"transfer-encoding", b"connection")

Mode = Literal["chunked", "close"]
State = Literal["head", "body", "done", "passthrough"]


class Reframer:
    """Re-frames one HTTP/1.1 response as bytes arrive; see the module docs."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.state: State = "head"
        #: the response's Content-Length, once its head was read
        self.length: int | None = None
        self._head = bytearray()
        self._left = 0

    def feed(self, data: bytes) -> bytes:
        """The bytes to send the client instead of ``data`` (possibly none yet)."""
        if self.state == "head":
            self._head += data
            end = self._head.find(_END)
            if end < 0:
                if len(self._head) > MAX_HEAD:
                    return self._pass()
                return b""
            head, rest = bytes(self._head[: end + 4]), bytes(self._head[end + 4 :])
            self._head.clear()
            length = _content_length(head)
            if length is None or head[9:10] == b"1":
                self._head += head + rest
                return self._pass()
            self.length, self._left, self.state = length, length, "body"
            return self._rewrite(head) + self._body(rest)
        if self.state == "body":
            return self._body(data)
        return data

    def _pass(self) -> bytes:
        self.state = "passthrough"
        out = bytes(self._head)
        self._head.clear()
        return out

    def _rewrite(self, head: bytes) -> bytes:
        lines = head[:-4].split(b"\r\n")
        kept = [lines[0]] + [
            line for line in lines[1:] if line.split(b":", 1)[0].strip().lower() not in _FRAMING
        ]
        chunked = self.mode == "chunked"
        kept.append(b"Transfer-Encoding: chunked" if chunked else b"Connection: close")
        return b"\r\n".join(kept) + _END

    def _body(self, data: bytes) -> bytes:
        piece = data[: self._left]
        self._left -= len(piece)
        out = b"%x\r\n%b\r\n" % (len(piece), piece) if self.mode == "chunked" and piece else piece
        if self._left == 0:
            self.state = "done"
            if self.mode == "chunked":
                out += b"0\r\n\r\n"
        return out


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            text = value.strip()
            return int(text) if text.isdigit() else None
    return None


def expects_continue(data: bytes) -> bool:
    """Whether the request head at the start of ``data`` carries ``Expect: 100-continue``."""
    end = data.find(_END)
    head = data if end < 0 else data[:end]
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"expect" and value.strip().lower() == b"100-continue":
            return True
    return False
