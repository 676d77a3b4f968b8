"""``soapguard config``: effective settings and their sources, secrets masked, bad env -> 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from soapguard.cli import main
from soapguard.config import _VARS, env_name

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m soapguard ARGS`` with ``src`` importable and only the given SOAPGUARD_*."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SOAPGUARD_")}
    path = os.pathsep.join(p for p in (str(ROOT / "src"), base.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "soapguard", *args],
        env={**base, "PYTHONPATH": path, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_come_from_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True
    rows = {row["variable"]: row for row in doc["settings"]}
    assert set(rows) == {env_name(name) for name in _VARS}
    assert {row["source"] for row in rows.values()} == {"default"}
    assert rows["SOAPGUARD_MAX_ATTEMPTS"]["value"] == 3
    assert rows["SOAPGUARD_TLS_PROFILE"]["value"] == "intermediate"
    assert rows["SOAPGUARD_CA_BUNDLE"]["value"] is None


def test_env_values_and_sources_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_dir = tmp_path / "s3cret-customer-name"
    secret_dir.mkdir()
    ca = secret_dir / "ca.pem"
    ca.write_text("not read by config")
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("SOAPGUARD_IDEMPOTENT_OPERATIONS", "GetBalance,Find*")
    monkeypatch.setenv("SOAPGUARD_SENSITIVE_ELEMENTS", "Pin")
    monkeypatch.setenv("SOAPGUARD_CA_BUNDLE", str(ca))
    monkeypatch.setenv("SOAPGUARD_TLS_PROFILE", "")  # empty counts as unset

    assert main(["config", "--json"]) == 1  # the CA file is not a certificate: problem found
    out = capsys.readouterr().out
    assert "s3cret" not in out
    doc = json.loads(out)
    rows = {row["variable"]: row for row in doc["settings"]}
    assert rows["SOAPGUARD_MAX_ATTEMPTS"] == {
        "field": "max_attempts",
        "variable": "SOAPGUARD_MAX_ATTEMPTS",
        "value": 5,
        "source": "env",
        "secret": False,
        "set": True,
    }
    assert rows["SOAPGUARD_IDEMPOTENT_OPERATIONS"]["value"] == ["GetBalance", "Find*"]
    assert rows["SOAPGUARD_CA_BUNDLE"]["value"] == "***"
    assert rows["SOAPGUARD_CA_BUNDLE"]["source"] == "env"
    assert rows["SOAPGUARD_SENSITIVE_ELEMENTS"]["value"] == "***"
    assert rows["SOAPGUARD_TLS_PROFILE"]["source"] == "default"
    assert any("cannot build the TLS context" in p for p in doc["problems"])

    assert main(["config"]) == 1
    text = capsys.readouterr()
    assert "s3cret" not in text.out + text.err
    line = next(x for x in text.out.splitlines() if x.startswith("SOAPGUARD_CA_BUNDLE"))
    assert line.split() == ["SOAPGUARD_CA_BUNDLE", "env", "***"]


def test_valid_ca_bundle_gives_exit_0(
    ca_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOAPGUARD_CA_BUNDLE", ca_file)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert ca_file not in out
    assert "record caps and TLS 1.3 suites:" in out


def test_two_bad_variables_exit_2_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "lots")
    monkeypatch.setenv("SOAPGUARD_TLS_PROFILE", "paranoid")
    monkeypatch.setenv("SOAPGUARD_CLIENT_CERT", str(tmp_path / "s3cret" / "missing.pem"))

    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "SOAPGUARD_MAX_ATTEMPTS: expected an integer from 1 to 10, got 'lots'" in err
    assert "SOAPGUARD_TLS_PROFILE: expected one of modern, intermediate, legacy" in err
    assert "SOAPGUARD_CLIENT_CERT: expected an existing certificate file" in err
    assert "s3cret" not in err

    assert main(["config", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    named = {p["variable"] for p in doc["problems"]}
    assert named == {"SOAPGUARD_MAX_ATTEMPTS", "SOAPGUARD_TLS_PROFILE", "SOAPGUARD_CLIENT_CERT"}


def test_unknown_variable_is_a_problem(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPT", "4")  # typo: silently ignored by Config
    assert main(["config"]) == 1
    assert "unknown variable SOAPGUARD_MAX_ATTEMPT " in capsys.readouterr().err


def test_other_commands_report_bad_env_the_same_way(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOAPGUARD_DEADLINE", "-1")
    monkeypatch.setenv("SOAPGUARD_LOG_PAYLOADS", "yes")
    assert main(["probe", "https://127.0.0.1:1/"]) == 2  # fails before any connection
    err = capsys.readouterr().err
    assert "SOAPGUARD_DEADLINE" in err
    assert "SOAPGUARD_LOG_PAYLOADS: expected true or false" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["nonsense"]) == 2
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out


def test_subprocess_bad_env_exits_2() -> None:
    result = run_cli("config", env={"SOAPGUARD_MAX_ATTEMPTS": "0", "SOAPGUARD_RETRY_BUDGET": "2"})
    assert result.returncode == 2, result.stderr
    assert "SOAPGUARD_MAX_ATTEMPTS" in result.stderr
    assert "SOAPGUARD_RETRY_BUDGET" in result.stderr


def test_subprocess_json(tmp_path: Path) -> None:
    result = run_cli("config", "--json", env={"SOAPGUARD_READ_TIMEOUT": "7.5"})
    assert result.returncode == 0, result.stderr
    rows = {row["field"]: row for row in json.loads(result.stdout)["settings"]}
    assert rows["read_timeout"]["value"] == 7.5
    assert rows["read_timeout"]["source"] == "env"


def test_console_script_points_at_main() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["soapguard"] == "soapguard.cli:main"
