"""``soapguard config``: effective settings and their sources, secrets masked, bad env -> 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from soapguard.cli import main
from soapguard.config import _VARS, env_name

ROOT = Path(__file__).resolve().parents[2]


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


def test_tls_material_problems_exit_1_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "s3cret-customer" / "ca.pem"
    junk.parent.mkdir()
    junk.write_text("not a certificate")
    monkeypatch.setenv("SOAPGUARD_CA_BUNDLE", str(junk))
    assert main(["config"]) == 1
    text = capsys.readouterr()
    assert (
        "problem: cannot build the TLS context: SOAPGUARD_CA_BUNDLE: contains no PEM certificate"
        in text.err
    )
    assert "s3cret" not in text.out + text.err


def test_mismatched_client_key_exits_1_naming_both(
    ca: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, other = ca.issue_cert("a.example"), ca.issue_cert("b.example")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    other.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    monkeypatch.setenv("SOAPGUARD_CLIENT_CERT", str(tmp_path / "cert.pem"))
    monkeypatch.setenv("SOAPGUARD_CLIENT_KEY", str(tmp_path / "key.pem"))
    monkeypatch.setenv("SOAPGUARD_CLIENT_KEY_PASSWORD", "hunter2-pass")
    assert main(["config", "--json"]) == 1
    out = capsys.readouterr().out
    assert "hunter2" not in out
    doc = json.loads(out)
    assert doc["problems"] == [
        "cannot build the TLS context: SOAPGUARD_CLIENT_KEY: "
        "does not match the certificate in SOAPGUARD_CLIENT_CERT",
        "cannot build the TLS context: SOAPGUARD_CLIENT_CERT: "
        "does not match the key in SOAPGUARD_CLIENT_KEY",
    ]
    rows = {row["variable"]: row for row in doc["settings"]}
    assert rows["SOAPGUARD_CLIENT_KEY_PASSWORD"]["value"] == "***"


def test_missing_requests_ca_bundle_exits_1_with_its_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/corp.pem")
    assert main(["config"]) == 1
    err = capsys.readouterr().err
    assert "REQUESTS_CA_BUNDLE: '/nonexistent/corp.pem' does not exist" in err


@pytest.mark.parametrize(
    ("env", "trust", "line"),
    [
        ({}, {"source": "system store", "path": None}, "CA certificates: system store"),
        (
            {"REQUESTS_CA_BUNDLE": "CA", "SSL_CERT_FILE": "/nonexistent"},
            {"source": "REQUESTS_CA_BUNDLE", "path": "CA"},
            "CA certificates: REQUESTS_CA_BUNDLE (CA)",
        ),
        (
            {"SOAPGUARD_CA_BUNDLE": "CA", "REQUESTS_CA_BUNDLE": "/nonexistent"},
            {"source": "SOAPGUARD_CA_BUNDLE", "path": "***"},
            "CA certificates: SOAPGUARD_CA_BUNDLE (***)",
        ),
    ],
)
def test_shows_which_ca_source_won(
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    trust: dict[str, str | None],
    line: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, ca_file if value == "CA" else value)
    expected = {k: (ca_file if v == "CA" else v) for k, v in trust.items()}
    assert main(["config", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runtime"]["trust"] == expected
    assert main(["config"]) == 0
    assert line.replace("CA)", f"{ca_file})") in capsys.readouterr().out


@pytest.mark.parametrize(("size", "noted"), [("3000", True), ("4096", False)])
def test_record_size_that_cannot_ask_the_server_is_noted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], size: str, noted: bool
) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_RECORD_SIZE", size)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert (
        "note: SOAPGUARD_MAX_RECORD_SIZE=3000 caps only the records soapguard sends" in out
    ) is noted
    assert main(["config", "--json"]) == 0
    assert bool(json.loads(capsys.readouterr().out)["notes"]) is noted


def test_failover_credentials_are_masked_and_password_never_shown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOAPGUARD_FAILOVER_ADDRESSES", "https://ops:hunter2@Backup.Example/Svc")
    assert main(["config", "--json"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    doc = json.loads(out)
    rows = {row["variable"]: row for row in doc["settings"]}
    assert rows["SOAPGUARD_FAILOVER_ADDRESSES"]["value"] == ["https://***@Backup.Example/Svc"]
    assert rows["SOAPGUARD_CLIENT_KEY_PASSWORD"]["value"] is None
    assert doc["ignored_env"] == []  # the command reads the environment itself


def test_notes_name_variables_a_code_built_config_ignores() -> None:
    from soapguard.cli.config import notes
    from soapguard.config import Config

    env = {"SOAPGUARD_MAX_ATTEMPTS": "5", "SOAPGUARD_CLIENT_KEY_PASSWORD": "hunter2"}
    assert notes(Config(), env) == [
        "set but ignored because code built the Config: "
        "SOAPGUARD_CLIENT_KEY_PASSWORD, SOAPGUARD_MAX_ATTEMPTS"
    ]


def test_soapguard_config_does_not_load_the_fault_proxy() -> None:
    import subprocess
    import sys

    code = (
        "import io, contextlib, sys, soapguard.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    soapguard.cli.main(['config'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('soapguard.testing.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip()
    assert "soapguard.testing.proxy.server" not in loaded
    assert "soapguard.testing.ledger" not in loaded


def test_the_account_of_where_settings_came_from_names_what_code_overrode() -> None:
    """What probe and demo print: values from the environment (secrets masked) and the
    variables that had no effect because an option or code set the field."""
    from soapguard.cli._origin import environment, lines
    from soapguard.config import Config

    env = {
        "SOAPGUARD_MAX_ATTEMPTS": "5",
        "SOAPGUARD_SENSITIVE_ELEMENTS": "Pin",
        "SOAPGUARD_FAILOVER_ADDRESSES": "https://ops:hunter2@backup.example/svc",
        "SOAPGUARD_CA_BUNDLE": "/etc/s3cret/ca.pem",
        "SOAPGUARD_CLIENT_KEY_PASSWORD": "hunter2",
    }
    config = Config.from_env(env, ca_bundle=None, client_key_password=None)
    doc = environment(config, env, {"ca_bundle": "--ca-bundle"})
    assert doc == {
        "from_env": [
            {"variable": "SOAPGUARD_MAX_ATTEMPTS", "value": 5},
            {
                "variable": "SOAPGUARD_FAILOVER_ADDRESSES",
                "value": ["https://***@backup.example/svc"],
            },
            {"variable": "SOAPGUARD_SENSITIVE_ELEMENTS", "value": "***"},
        ],
        "ignored_env": [
            {"variable": "SOAPGUARD_CA_BUNDLE", "set_by": "--ca-bundle"},
            {"variable": "SOAPGUARD_CLIENT_KEY_PASSWORD", "set_by": "code"},
        ],
    }
    text = "\n".join(lines(doc))
    assert text == (
        "From the environment: SOAPGUARD_MAX_ATTEMPTS=5, "
        "SOAPGUARD_FAILOVER_ADDRESSES=https://***@backup.example/svc, "
        "SOAPGUARD_SENSITIVE_ELEMENTS=***\n"
        "Ignored: SOAPGUARD_CA_BUNDLE (--ca-bundle given), "
        "SOAPGUARD_CLIENT_KEY_PASSWORD (set by code)"
    )
    assert "hunter2" not in text + str(doc)
    assert "s3cret" not in text + str(doc)
