"""An operator's SOAPGUARD_* setting that code overrode is named in the client's first event."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import requests

import soapguard
from soapguard import Config

WSDL = str(Path(__file__).resolve().parents[2] / "wsdl" / "ledger.wsdl")
BINDING = "{urn:soapguard:ledger}LedgerSoapBinding"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fail_twice(config: Config) -> list[dict[str, Any]]:
    client = soapguard.Client(WSDL, config=config)
    service = client.create_service(BINDING, f"https://127.0.0.1:{_closed_port()}/ledger")
    for _ in range(2):
        with pytest.raises(requests.exceptions.ConnectionError):
            service.GetBalance(account="1")
    return events


events: list[dict[str, Any]] = []


@pytest.fixture(autouse=True)
def _fresh_events() -> None:
    events.clear()


def test_a_plain_config_names_the_variables_it_ignored_in_the_first_event_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("SOAPGUARD_TLS_PROFILE", "legacy")
    monkeypatch.setenv("SOAPGUARD_CLIENT_KEY_PASSWORD", "operator-secret")
    got = _fail_twice(Config(max_attempts=1, on_event=events.append))
    first, *later = got
    assert first["config.ignored_env"] == [
        "SOAPGUARD_CLIENT_KEY_PASSWORD",
        "SOAPGUARD_MAX_ATTEMPTS",
        "SOAPGUARD_TLS_PROFILE",
    ]
    assert "SOAPGUARD_MAX_ATTEMPTS" in first["config.from_code"]
    assert later
    assert all(e["config.ignored_env"] is None for e in later)
    assert all("operator-secret" not in str(e) for e in got)


def test_from_env_names_only_what_code_overrode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("SOAPGUARD_READ_TIMEOUT", "7")
    config = Config.from_env(max_attempts=1, on_event=events.append)
    first = _fail_twice(config)[0]
    assert first["config.ignored_env"] == ["SOAPGUARD_MAX_ATTEMPTS"]
    assert first["config.from_code"] == ["SOAPGUARD_MAX_ATTEMPTS"]
