"""Unit tests: no sockets.  Any attempt to connect or bind fails the test."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, *args: object, **kwargs: object) -> None:
        raise RuntimeError("unit tests do not use sockets; move this test to tests/integration")

    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, refuse)
