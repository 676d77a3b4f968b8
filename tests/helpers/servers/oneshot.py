"""A TLS server for one connection on 127.0.0.1, for tests that need a bare TLS peer."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from types import TracebackType


class OneShotServer:
    """Accepts one TLS connection on 127.0.0.1 and runs ``handler`` on it in a thread."""

    def __init__(
        self, context: ssl.SSLContext, handler: Callable[[ssl.SSLSocket], None] = lambda s: None
    ) -> None:
        self.context, self.handler = context, handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port: int = self.listener.getsockname()[1]
        self.error: BaseException | None = None
        self.peer_cert: dict[str, object] | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            raw, _ = self.listener.accept()
            raw.settimeout(10)
            with self.context.wrap_socket(raw, server_side=True) as conn:
                self.peer_cert = conn.getpeercert()  # type: ignore[assignment]
                self.handler(conn)
        except Exception as exc:
            self.error = exc

    def __enter__(self) -> OneShotServer:
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.listener.close()
        self.thread.join(10)
        assert not self.thread.is_alive()
