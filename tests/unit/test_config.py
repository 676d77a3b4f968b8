"""Config: env parsing, precedence, validation that names every bad variable."""

from __future__ import annotations

import base64
import pickle
from pathlib import Path

import pytest

import soapguard
from soapguard.config import _VARS, Config, env_name


def test_defaults_match_spec() -> None:
    cfg = Config()
    assert cfg.tls_profile == "intermediate"
    assert (cfg.connect_timeout, cfg.read_timeout, cfg.deadline) == (10.0, 60.0, 120.0)
    assert cfg.max_attempts == 3
    assert (cfg.backoff_initial, cfg.backoff_max) == (0.05, 2.0)
    assert cfg.retry_budget == 0.2
    assert cfg.idempotent_operations == ()
    assert cfg.log_payloads is False
    assert cfg.max_record_size is None
    assert cfg.tls_legacy_renegotiation is False
    assert cfg.tls_security_level == 2
    assert cfg.client_key_password is None
    assert cfg.pinned_keys == ()
    assert cfg.cert_expiry_warning == 30
    assert (cfg.pool_idle_timeout, cfg.pool_max_age, cfg.pool_maxsize) == (30.0, None, 10)
    assert cfg.failover_addresses == ()
    assert cfg.circuit_breaker is True
    assert cfg.breaker_failure_ratio == 0.5
    assert cfg.breaker_min_calls == 10
    assert (cfg.breaker_window, cfg.breaker_open_seconds) == (30.0, 30.0)
    assert cfg.idempotency_header is None


PIN = "sha256/" + base64.b64encode(bytes(range(32))).decode()


def test_every_spec_variable_is_read(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    env = {
        "SOAPGUARD_TLS_PROFILE": "legacy",
        "SOAPGUARD_TLS_MIN_VERSION": "1.0",
        "SOAPGUARD_TLS_MAX_VERSION": "1.2",
        "SOAPGUARD_TLS_SECURITY_LEVEL": "0",
        "SOAPGUARD_TLS_LEGACY_RENEGOTIATION": "true",
        "SOAPGUARD_CIPHERS": "AES128-SHA",
        "SOAPGUARD_TLS13_CIPHERSUITES": "TLS_AES_128_GCM_SHA256",
        "SOAPGUARD_MAX_RECORD_SIZE": "4096",
        "SOAPGUARD_CA_BUNDLE": str(ca),
        "SOAPGUARD_CLIENT_CERT": str(ca),
        "SOAPGUARD_CLIENT_KEY": str(ca),
        "SOAPGUARD_CLIENT_KEY_PASSWORD": " pass word ",
        "SOAPGUARD_PINNED_KEYS": f"{PIN}, SHA256/{PIN[7:]}",
        "SOAPGUARD_CERT_EXPIRY_WARNING": "14",
        "SOAPGUARD_CONNECT_TIMEOUT": "2.5",
        "SOAPGUARD_READ_TIMEOUT": "7",
        "SOAPGUARD_DEADLINE": "30",
        "SOAPGUARD_MAX_ATTEMPTS": "5",
        "SOAPGUARD_BACKOFF_INITIAL": "0.1",
        "SOAPGUARD_BACKOFF_MAX": "1",
        "SOAPGUARD_IDEMPOTENT_OPERATIONS": "GetBalance, Find*",
        "SOAPGUARD_IDEMPOTENCY_HEADER": "Idempotency-Key",
        "SOAPGUARD_RETRY_BUDGET": "0.5",
        "SOAPGUARD_POOL_IDLE_TIMEOUT": "4.5",
        "SOAPGUARD_POOL_MAX_AGE": "300",
        "SOAPGUARD_POOL_MAXSIZE": "20",
        "SOAPGUARD_FAILOVER_ADDRESSES": "https://Backup.Example/Svc, http://10.0.0.2:8080/svc",
        "SOAPGUARD_CIRCUIT_BREAKER": "False",
        "SOAPGUARD_BREAKER_FAILURE_RATIO": "0.25",
        "SOAPGUARD_BREAKER_MIN_CALLS": "4",
        "SOAPGUARD_BREAKER_WINDOW": "60",
        "SOAPGUARD_BREAKER_OPEN_SECONDS": "15",
        "SOAPGUARD_DIAGNOSTICS_FILE": str(tmp_path / "events.jsonl"),
        "SOAPGUARD_SENSITIVE_ELEMENTS": "Pin,Secret",
        "SOAPGUARD_LOG_PAYLOADS": "TRUE",
    }
    cfg = Config.from_env(env)
    assert cfg.tls_profile == "legacy"
    assert (cfg.tls_min_version, cfg.tls_max_version) == ("1.0", "1.2")
    assert cfg.tls_security_level == 0
    assert cfg.tls_legacy_renegotiation is True
    assert cfg.max_record_size == 4096
    assert cfg.client_key_password == " pass word "  # a password keeps its spaces
    assert cfg.pinned_keys == (PIN, PIN)
    assert cfg.cert_expiry_warning == 14
    assert cfg.connect_timeout == 2.5
    assert cfg.max_attempts == 5
    assert cfg.idempotent_operations == ("GetBalance", "Find*")
    assert cfg.idempotency_header == "Idempotency-Key"
    assert (cfg.pool_idle_timeout, cfg.pool_max_age, cfg.pool_maxsize) == (4.5, 300.0, 20)
    assert cfg.failover_addresses == ("https://Backup.Example/Svc", "http://10.0.0.2:8080/svc")
    assert cfg.circuit_breaker is False
    assert cfg.breaker_failure_ratio == 0.25
    assert cfg.breaker_min_calls == 4
    assert (cfg.breaker_window, cfg.breaker_open_seconds) == (60.0, 15.0)
    assert cfg.sensitive_elements == ("Pin", "Secret")
    assert cfg.log_payloads is True
    assert all(cfg.sources[name] == "env" for name in cfg.sources)
    assert len(cfg.sources) == len(env) == len(_VARS)


def test_precedence_argument_over_env_over_default() -> None:
    env = {"SOAPGUARD_MAX_ATTEMPTS": "5", "SOAPGUARD_READ_TIMEOUT": "9"}
    cfg = Config.from_env(env, max_attempts=2)
    assert cfg.max_attempts == 2
    assert cfg.read_timeout == 9
    assert cfg.connect_timeout == 10
    assert cfg.sources["max_attempts"] == "argument"
    assert cfg.sources["read_timeout"] == "env"
    assert cfg.sources["connect_timeout"] == "default"


def test_empty_variable_counts_as_unset() -> None:
    cfg = Config.from_env({"SOAPGUARD_MAX_ATTEMPTS": "", "SOAPGUARD_TLS_PROFILE": "  "})
    assert cfg.max_attempts == 3
    assert cfg.tls_profile == "intermediate"


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "7")
    assert Config.from_env().max_attempts == 7


def test_plain_constructor_ignores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "7")
    assert Config().max_attempts == 3


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("SOAPGUARD_TLS_PROFILE", "paranoid"),
        ("SOAPGUARD_TLS_MIN_VERSION", "1.0"),  # below 1.2 needs profile legacy
        ("SOAPGUARD_TLS_MAX_VERSION", "2.0"),
        ("SOAPGUARD_MAX_RECORD_SIZE", "100"),
        ("SOAPGUARD_MAX_RECORD_SIZE", "20000"),
        ("SOAPGUARD_MAX_RECORD_SIZE", "4k"),
        ("SOAPGUARD_CA_BUNDLE", "/nonexistent/ca.pem"),
        ("SOAPGUARD_CONNECT_TIMEOUT", "0"),
        ("SOAPGUARD_READ_TIMEOUT", "-1"),
        ("SOAPGUARD_DEADLINE", "soon"),
        ("SOAPGUARD_MAX_ATTEMPTS", "11"),
        ("SOAPGUARD_MAX_ATTEMPTS", "0"),
        ("SOAPGUARD_MAX_ATTEMPTS", "2.5"),
        ("SOAPGUARD_BACKOFF_INITIAL", "-0.1"),
        ("SOAPGUARD_RETRY_BUDGET", "1.5"),
        ("SOAPGUARD_LOG_PAYLOADS", "yes"),
        ("SOAPGUARD_LOG_PAYLOADS", "1"),
        ("SOAPGUARD_CIPHERS", "NO-SUCH-CIPHER"),
        ("SOAPGUARD_CIPHERS", "NULL"),  # selects only forbidden suites
        ("SOAPGUARD_TLS13_CIPHERSUITES", "AES128-SHA"),
    ],
)
def test_bad_values_raise_config_error_naming_the_variable(var: str, value: str) -> None:
    with pytest.raises(soapguard.ConfigError) as info:
        Config.from_env({var: value})
    assert var in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, soapguard.SoapGuardError)


def test_every_bad_variable_is_named_at_once() -> None:
    env = {
        "SOAPGUARD_MAX_ATTEMPTS": "lots",
        "SOAPGUARD_DEADLINE": "-5",
        "SOAPGUARD_TLS_PROFILE": "nope",
    }
    with pytest.raises(soapguard.ConfigError) as info:
        Config.from_env(env)
    names = {name for name, _ in info.value.problems}
    assert names == set(env)
    for name in env:
        assert name in str(info.value)


def test_secret_values_are_never_echoed() -> None:
    secret_path = "/very/secret/path/hunter2-key.pem"
    with pytest.raises(soapguard.ConfigError) as info:
        Config.from_env({"SOAPGUARD_CLIENT_CERT": secret_path, "SOAPGUARD_CLIENT_KEY": secret_path})
    assert "hunter2" not in str(info.value)
    assert "SOAPGUARD_CLIENT_KEY" in str(info.value)


def test_non_secret_values_are_echoed_for_help() -> None:
    with pytest.raises(soapguard.ConfigError, match="'lots'"):
        Config.from_env({"SOAPGUARD_MAX_ATTEMPTS": "lots"})


def test_code_arguments_are_validated_and_named_with_their_variable() -> None:
    with pytest.raises(soapguard.ConfigError) as info:
        Config(max_attempts=0)
    assert "max_attempts (SOAPGUARD_MAX_ATTEMPTS)" in str(info.value)


def test_cross_field_rules() -> None:
    with pytest.raises(soapguard.ConfigError, match="SOAPGUARD_TLS_MAX_VERSION"):
        Config(tls_min_version="1.3", tls_max_version="1.2")
    with pytest.raises(soapguard.ConfigError, match="backoff_max"):
        Config(backoff_initial=3, backoff_max=1)
    with pytest.raises(soapguard.ConfigError, match="modern"):
        Config(tls_profile="modern", tls_min_version="1.2")
    Config(tls_profile="legacy", tls_min_version="1.0", tls_security_level=0)  # allowed


def test_client_key_needs_cert(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("x")
    with pytest.raises(soapguard.ConfigError, match="client_key"):
        Config(client_key=str(key))


def test_frozen_hashable_and_pickles() -> None:
    cfg = Config(max_attempts=4, idempotent_operations=("Get*",))
    with pytest.raises(AttributeError):
        cfg.max_attempts = 5  # type: ignore[misc]
    assert hash(cfg) == hash(Config(max_attempts=4, idempotent_operations=("Get*",)))
    assert pickle.loads(pickle.dumps(cfg)) == cfg


def test_idempotent_globs() -> None:
    cfg = Config(idempotent_operations=("Get*", "Find?ccount"))
    assert cfg.is_idempotent("GetBalance")
    assert cfg.is_idempotent("FindAccount")
    assert not cfg.is_idempotent("Transfer")
    assert not cfg.is_idempotent("getbalance")  # case-sensitive, like operation names
    assert not Config().is_idempotent("GetBalance")  # nothing is idempotent by default


def test_unknown_override_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="max_atempts"):
        Config.from_env({}, max_atempts=3)


def test_env_name() -> None:
    assert env_name("max_attempts") == "SOAPGUARD_MAX_ATTEMPTS"


def test_config_error_pickles() -> None:
    with pytest.raises(soapguard.ConfigError) as info:
        Config.from_env({"SOAPGUARD_MAX_ATTEMPTS": "x"})
    clone = pickle.loads(pickle.dumps(info.value))
    assert str(clone) == str(info.value)
    assert clone.problems == info.value.problems
