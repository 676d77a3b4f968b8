"""Non-Python TLS peers for interop tests: ``openssl s_server`` and ``gnutls-serv``.

Both run as child processes; their output is drained by a thread (a full pipe would
stall them) and kept for failure messages.  Tests skip with a visible reason where
the command is missing (``OPENSSL`` / ``GNUTLS_SERV`` are ``None`` then).
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import socket
import subprocess
import threading
from types import TracebackType

OPENSSL = shutil.which("openssl")
GNUTLS_SERV = shutil.which("gnutls-serv")
#: how long a server may take to start listening
START_TIMEOUT = 20


class _Child:
    """A server process whose merged stdout/stderr is pumped into ``lines``."""

    def __init__(self, command: list[str], cwd: str | None = None) -> None:
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            # a silent, open stdin: at EOF on stdin s_server drops the connection
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, test: str) -> str:
        """The first output line containing ``test``; RuntimeError if the server exits."""
        while True:
            try:
                line = self.lines.get(timeout=START_TIMEOUT)
            except queue.Empty:
                raise RuntimeError(f"server never printed {test!r}: {self.output}") from None
            if line is None:
                raise RuntimeError(f"server exited: {self.output}")
            self.output.append(line)
            if test in line:
                return line

    def close(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):  # a helper thread may be writing to it
            self.proc.stdin.close()
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.pump.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


class SServer(_Child):
    """``openssl s_server`` on an ephemeral 127.0.0.1 port; ready once it prints ACCEPT."""

    def __init__(self, cert_files: tuple[str, str], *args: str, cwd: str | None = None) -> None:
        cert, key = cert_files
        command = [str(OPENSSL), "s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key", key]
        super().__init__([*command, *args], cwd=cwd)
        try:
            self.port = int(self.wait_for("ACCEPT ").rsplit(":", 1)[1])
        except RuntimeError:
            self.close()
            raise
        self._renegotiator: threading.Thread | None = None

    def renegotiate_after(self, marker: str) -> None:
        """Each time the client's data shows ``marker`` (s_server prints what it reads), ask
        for a renegotiation with a client-certificate request, as IIS does for a path that
        needs one (s_server's interactive ``R`` command)."""

        def run() -> None:
            while (line := self.lines.get()) is not None:
                self.output.append(line)
                if marker in line:
                    assert self.proc.stdin is not None
                    try:
                        self.proc.stdin.write("R\n")
                        self.proc.stdin.flush()
                    except (OSError, ValueError):  # closed at teardown
                        return

        self._renegotiator = threading.Thread(target=run, daemon=True)
        self._renegotiator.start()

    def __enter__(self) -> SServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
        if self._renegotiator is not None:
            self._renegotiator.join(5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class GnutlsServer(_Child):
    """``gnutls-serv --http`` with a priority string, answering every GET with ``body``.

    gnutls-serv has no option to bind one address or port 0: it listens on every
    interface, on a port that was free a moment before (another try if it was taken).
    Tests only ever connect to 127.0.0.1.  It answers POST with a 501 HTML page.
    """

    def __init__(self, cert_files: tuple[str, str], priority: str, body: str) -> None:
        cert, key = cert_files
        for _ in range(3):
            self.port = _free_port()
            command = [
                str(GNUTLS_SERV), "--http", "--port", str(self.port), "--priority", priority,
                "--x509certfile", cert, "--x509keyfile", key, "--httpdata", body,
                "--disable-client-cert", "--noticket",
            ]  # fmt: skip
            super().__init__(command)
            try:
                self.wait_for("listening on IPv4")
                return
            except RuntimeError:
                self.close()
        raise RuntimeError(f"gnutls-serv did not start: {self.output}")

    def __enter__(self) -> GnutlsServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
