"""``soapguard probe --idle-wait``: how long the server keeps an idle connection open."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from soapguard.cli import main
from soapguard.cli.probe.advice import idle_timeout_for, notes, recommend
from soapguard.testing.ledger import LedgerServer

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning"),
]


def probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["probe", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_the_probe_measures_the_servers_idle_limit_and_recommends_under_it(
    make_ledger: Callable[..., LedgerServer], ca_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = make_ledger(idle_timeout=1.5)
    url = f"https://localhost:{ledger.port}/ledger?wsdl"
    code, report = probe(capsys, url, "--ca-bundle", ca_file, "--idle-wait", "20")
    idle = report["idle"]
    assert idle["measured"] is True
    assert idle["how"] in ("fin", "reset")
    assert 0.5 <= idle["closed_after_s"] <= 5  # the server's 1.5 s, from the client's side
    recs = {r["variable"]: r for r in report["recommendations"]}
    value = float(recs["SOAPGUARD_POOL_IDLE_TIMEOUT"]["value"])
    assert 0 < value < idle["closed_after_s"]
    assert "closed an idle connection after" in recs["SOAPGUARD_POOL_IDLE_TIMEOUT"]["reason"]
    assert code == 0  # advice, not a problem


def test_without_idle_wait_nothing_is_measured(
    ledger: LedgerServer, ca_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"https://localhost:{ledger.port}/ledger?wsdl"
    _, report = probe(capsys, url, "--ca-bundle", ca_file)
    assert report["idle"] is None


def test_the_wait_is_bounded_by_idle_wait(
    make_ledger: Callable[..., LedgerServer], ca_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = make_ledger(idle_timeout=30)
    url = f"https://localhost:{ledger.port}/ledger?wsdl"
    main(["probe", url, "--ca-bundle", ca_file, "--idle-wait", "1"])
    text = capsys.readouterr().out
    assert "Idle connection: still open after 1" in text
    assert "too short to show that SOAPGUARD_POOL_IDLE_TIMEOUT=30 is safe" in text


# -- the advice, on recorded measurements ----------------------------------------------------


@pytest.mark.parametrize(
    ("closed", "expected"), [(180.0, 144.0), (75.0, 60.0), (12.4, 9.9), (1.0, 0.8), (0.05, 0.1)]
)
def test_idle_timeout_is_recommended_well_under_the_measured_limit(
    closed: float, expected: float
) -> None:
    assert idle_timeout_for(closed) == expected


def test_no_change_is_recommended_when_the_setting_is_already_under_it() -> None:
    report = {"handshakes": [], "idle": {"measured": True, "closed_after_s": 75.0}}
    assert recommend(report, {"pool_idle_timeout": 30.0}) == []
    (rec,) = recommend(report, {"pool_idle_timeout": 90.0})
    assert rec["line"] == "SOAPGUARD_POOL_IDLE_TIMEOUT=60"
    assert "now 90 s" in rec["reason"]


def test_an_idle_connection_still_open_is_a_note_only_when_it_says_something() -> None:
    still_open = {"measured": True, "closed_after_s": None, "waited_s": 40.0}
    report: dict[str, Any] = {"idle": still_open, "settings": {"pool_idle_timeout": 30.0}}
    assert notes(report) == ["the server kept an idle connection open for at least 40 s"]
    report["settings"]["pool_idle_timeout"] = 60.0
    assert "too short to show" in notes(report)[0]
