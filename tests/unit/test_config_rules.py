"""Config rules: finite numbers, conflicts naming both variables, truncation, case, new vars."""

from __future__ import annotations

import base64
import math
import pickle
from pathlib import Path
from typing import Any

import pytest

import soapguard
from soapguard.config import _VARS, Config, env_name, ignored_env

PIN = "sha256/" + base64.b64encode(bytes(range(32))).decode()
FLOAT_VARS = sorted(
    env_name(name) for name, var in _VARS.items() if var.parse.__name__ == "parse_float"
)


def problems(env: dict[str, str]) -> dict[str, str]:
    with pytest.raises(soapguard.ConfigError) as info:
        Config.from_env(env)
    return dict(info.value.problems)


def code_problems(**kwargs: Any) -> dict[str, str]:
    with pytest.raises(soapguard.ConfigError) as info:
        Config(**kwargs)
    return dict(info.value.problems)


# -- numbers ------------------------------------------------------------------------------


def test_float_variables_are_the_ones_expected() -> None:
    assert "SOAPGUARD_CONNECT_TIMEOUT" in FLOAT_VARS
    assert "SOAPGUARD_BREAKER_FAILURE_RATIO" in FLOAT_VARS
    assert len(FLOAT_VARS) == 11


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity", "1e999", "1e10"])
@pytest.mark.parametrize("var", FLOAT_VARS)
def test_non_finite_and_huge_numbers_are_refused(var: str, value: str) -> None:
    found = problems({var: value})
    assert list(found) == [var]
    assert "expected" in found[var]


@pytest.mark.parametrize("value", [math.inf, math.nan, -math.inf, 1e10])
def test_non_finite_numbers_from_code_are_refused(value: float) -> None:
    for name in ("connect_timeout", "deadline", "backoff_max", "pool_max_age", "retry_budget"):
        assert f"{name} ({env_name(name)})" in code_problems(**{name: value})


def test_an_infinite_connect_timeout_no_longer_reaches_the_wsdl_loader() -> None:
    """It used to pass and then fail as an OverflowError inside the socket layer."""
    with pytest.raises(soapguard.ConfigError, match="SOAPGUARD_CONNECT_TIMEOUT"):
        soapguard.Transport(config=Config.from_env({"SOAPGUARD_CONNECT_TIMEOUT": "inf"}))


def test_backoff_conflict_names_both_variables() -> None:
    found = problems({"SOAPGUARD_BACKOFF_INITIAL": "3", "SOAPGUARD_BACKOFF_MAX": "1"})
    assert found == {
        "SOAPGUARD_BACKOFF_INITIAL": "3 is above SOAPGUARD_BACKOFF_MAX (1)",
        "SOAPGUARD_BACKOFF_MAX": "1 is below SOAPGUARD_BACKOFF_INITIAL (3)",
    }
    assert set(code_problems(backoff_initial=3.0)) == {
        "backoff_initial (SOAPGUARD_BACKOFF_INITIAL)",
        "backoff_max (SOAPGUARD_BACKOFF_MAX)",
    }


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SOAPGUARD_MAX_ATTEMPTS": "9" * 5000}, "SOAPGUARD_MAX_ATTEMPTS"),  # a range error
        ({"SOAPGUARD_TLS_PROFILE": "x" * 5000}, "SOAPGUARD_TLS_PROFILE"),
        ({"SOAPGUARD_CIPHERS": "NULL:" * 1000}, "SOAPGUARD_CIPHERS"),
        ({"SOAPGUARD_IDEMPOTENCY_HEADER": "a b" * 2000}, "SOAPGUARD_IDEMPOTENCY_HEADER"),
        ({"SOAPGUARD_TLS13_CIPHERSUITES": "TLS_X:" * 900}, "SOAPGUARD_TLS13_CIPHERSUITES"),
        ({"SOAPGUARD_FAILOVER_ADDRESSES": "ftp://" + "h" * 5000}, "SOAPGUARD_FAILOVER_ADDRESSES"),
        ({"SOAPGUARD_PINNED_KEYS": "sha256/" + "A" * 5000}, "SOAPGUARD_PINNED_KEYS"),
    ],
)
def test_echoed_values_are_truncated(env: dict[str, str], named: str) -> None:
    found = problems(env)
    assert list(found) == [named]
    assert len(found[named]) < 250, found[named]
    assert "..." in found[named]


def test_range_errors_from_code_are_truncated_too() -> None:
    found = code_problems(idempotent_operations=["x" * 5000, 3])
    assert len(found["idempotent_operations (SOAPGUARD_IDEMPOTENT_OPERATIONS)"]) < 250


# -- keywords and case ---------------------------------------------------------------------


def test_keywords_accept_any_case_names_keep_theirs() -> None:
    cfg = Config.from_env(
        {
            "SOAPGUARD_TLS_PROFILE": "Legacy",
            "SOAPGUARD_LOG_PAYLOADS": "TRUE",
            "SOAPGUARD_CIRCUIT_BREAKER": "False",
            "SOAPGUARD_TLS_LEGACY_RENEGOTIATION": "tRuE",
            "SOAPGUARD_IDEMPOTENT_OPERATIONS": "GetBalance,find*",
            "SOAPGUARD_SENSITIVE_ELEMENTS": "AccountPin",
            "SOAPGUARD_FAILOVER_ADDRESSES": "https://Backup.Example/Ledger?WSDL",
            "SOAPGUARD_IDEMPOTENCY_HEADER": "X-Request-ID",
        }
    )
    assert cfg.tls_profile == "legacy"
    assert (cfg.log_payloads, cfg.circuit_breaker, cfg.tls_legacy_renegotiation) == (
        True,
        False,
        True,
    )
    assert cfg.idempotent_operations == ("GetBalance", "find*")
    assert cfg.sensitive_elements == ("AccountPin",)
    assert cfg.failover_addresses == ("https://Backup.Example/Ledger?WSDL",)
    assert cfg.idempotency_header == "X-Request-ID"
    assert Config(tls_profile="Modern") == Config(tls_profile="modern")  # type: ignore[arg-type]


# -- security level ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SOAPGUARD_TLS_SECURITY_LEVEL": "1"}, "SOAPGUARD_TLS_PROFILE"),
        ({"SOAPGUARD_TLS_SECURITY_LEVEL": "0"}, "SOAPGUARD_TLS_MIN_VERSION"),
        (
            {"SOAPGUARD_TLS_SECURITY_LEVEL": "0", "SOAPGUARD_TLS_PROFILE": "legacy"},
            "SOAPGUARD_TLS_MIN_VERSION",
        ),
        (
            {"SOAPGUARD_TLS_PROFILE": "legacy", "SOAPGUARD_TLS_MIN_VERSION": "1.0"},
            "SOAPGUARD_TLS_MIN_VERSION",
        ),
        (
            {
                "SOAPGUARD_TLS_PROFILE": "legacy",
                "SOAPGUARD_TLS_MIN_VERSION": "1.1",
                "SOAPGUARD_TLS_SECURITY_LEVEL": "1",
            },
            "SOAPGUARD_TLS_MIN_VERSION",
        ),
    ],
)
def test_security_level_conflicts_name_both_variables(env: dict[str, str], named: str) -> None:
    found = problems(env)
    assert set(found) == {"SOAPGUARD_TLS_SECURITY_LEVEL", named}


@pytest.mark.parametrize(
    "settings",
    [
        {"tls_security_level": 2},
        {"tls_profile": "legacy", "tls_security_level": 1},
        {"tls_profile": "legacy", "tls_min_version": "1.0", "tls_security_level": 0},
        {"tls_profile": "legacy", "tls_min_version": "1.1", "tls_security_level": 0},
    ],
)
def test_security_level_combinations_that_fit(settings: dict[str, Any]) -> None:
    Config(**settings)


@pytest.mark.parametrize("value", ["3", "-1", "high", "1.5"])
def test_security_level_form(value: str) -> None:
    assert (
        "0, 1 or 2"
        in problems({"SOAPGUARD_TLS_SECURITY_LEVEL": value})["SOAPGUARD_TLS_SECURITY_LEVEL"]
    )


def test_max_version_below_the_profile_minimum_is_a_config_error() -> None:
    found = problems({"SOAPGUARD_TLS_PROFILE": "legacy", "SOAPGUARD_TLS_MAX_VERSION": "1.1"})
    assert "set SOAPGUARD_TLS_MIN_VERSION as well" in found["SOAPGUARD_TLS_MAX_VERSION"]


# -- suites --------------------------------------------------------------------------------


def test_forbidden_only_cipher_string_says_so() -> None:
    message = problems({"SOAPGUARD_CIPHERS": "NULL:RC4"})["SOAPGUARD_CIPHERS"]
    assert "expected an OpenSSL cipher string" not in message
    assert "never offers" in message
    assert "'NULL:RC4'" in message


def test_unknown_cipher_string_says_what_is_expected() -> None:
    message = problems({"SOAPGUARD_CIPHERS": "NO-SUCH-CIPHER"})["SOAPGUARD_CIPHERS"]
    assert message.startswith("expected an OpenSSL cipher string")


def test_known_but_disallowed_tls13_suite_names_the_allowed_ones() -> None:
    message = problems({"SOAPGUARD_TLS13_CIPHERSUITES": "TLS_AES_128_CCM_8_SHA256"})[
        "SOAPGUARD_TLS13_CIPHERSUITES"
    ]
    assert "names no suite soapguard allows" in message
    assert "TLS_AES_256_GCM_SHA384" in message
    assert "TLS_CHACHA20_POLY1305_SHA256" in message


def test_unknown_tls13_suite_is_named() -> None:
    message = problems({"SOAPGUARD_TLS13_CIPHERSUITES": "TLS_AES_128_GCM_SHA256:TLS_FAKE"})[
        "SOAPGUARD_TLS13_CIPHERSUITES"
    ]
    assert "'TLS_FAKE' is not one" in message


def test_record_size_without_mfl_is_still_accepted() -> None:
    assert Config.from_env({"SOAPGUARD_MAX_RECORD_SIZE": "3000"}).max_record_size == 3000


# -- new variables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "value", "part"),
    [
        ("SOAPGUARD_PINNED_KEYS", "sha256/AAAA", "decodes to 3 bytes, not 32"),
        ("SOAPGUARD_PINNED_KEYS", "sha256/not base64!", "not valid base64"),
        ("SOAPGUARD_PINNED_KEYS", PIN[7:], "does not start with sha256/"),
        ("SOAPGUARD_PINNED_KEYS", f"{PIN},sha1/AAAA", "does not start with sha256/"),
        ("SOAPGUARD_CERT_EXPIRY_WARNING", "-1", "from 0 to 3650"),
        ("SOAPGUARD_CERT_EXPIRY_WARNING", "99999999999", "from 0 to 3650"),
        ("SOAPGUARD_POOL_IDLE_TIMEOUT", "0", "> 0"),
        ("SOAPGUARD_POOL_MAX_AGE", "-5", "> 0"),
        ("SOAPGUARD_POOL_MAXSIZE", "0", "from 1 to 1000"),
        ("SOAPGUARD_POOL_MAXSIZE", "1001", "from 1 to 1000"),
        ("SOAPGUARD_BREAKER_FAILURE_RATIO", "0", "> 0 and at most 1"),
        ("SOAPGUARD_BREAKER_FAILURE_RATIO", "1.01", "> 0 and at most 1"),
        ("SOAPGUARD_BREAKER_MIN_CALLS", "0", ">= 1"),
        ("SOAPGUARD_BREAKER_WINDOW", "0", "> 0"),
        ("SOAPGUARD_BREAKER_OPEN_SECONDS", "-1", "> 0"),
        ("SOAPGUARD_CIRCUIT_BREAKER", "on", "true or false"),
        ("SOAPGUARD_TLS_LEGACY_RENEGOTIATION", "1", "true or false"),
        ("SOAPGUARD_IDEMPOTENCY_HEADER", "Idempotency Key", "HTTP header name"),
        ("SOAPGUARD_IDEMPOTENCY_HEADER", "Key:", "HTTP header name"),
        ("SOAPGUARD_IDEMPOTENCY_HEADER", "authorization", "already uses"),
        ("SOAPGUARD_IDEMPOTENCY_HEADER", "Content-Length", "already uses"),
        ("SOAPGUARD_FAILOVER_ADDRESSES", "backup.example/svc", "absolute"),
        ("SOAPGUARD_FAILOVER_ADDRESSES", "ftp://backup.example/svc", "absolute"),
        ("SOAPGUARD_FAILOVER_ADDRESSES", "https:///svc", "absolute"),
        ("SOAPGUARD_FAILOVER_ADDRESSES", "https://backup.example:99999/svc", "absolute"),
        ("SOAPGUARD_FAILOVER_ADDRESSES", "https://backup .example/svc", "absolute"),
    ],
)
def test_new_variables_are_validated(var: str, value: str, part: str) -> None:
    found = problems({var: value})
    assert list(found) == [var]
    assert part in found[var]


def test_new_variables_from_code_get_the_same_checks() -> None:
    found = code_problems(
        pool_maxsize=0,
        pinned_keys=("sha256/AAAA",),
        failover_addresses=["not a url"],
        circuit_breaker="yes",
        idempotency_header="Host",
    )
    assert set(found) == {
        f"{name} ({env_name(name)})"
        for name in (
            "pool_maxsize",
            "pinned_keys",
            "failover_addresses",
            "circuit_breaker",
            "idempotency_header",
        )
    }


def test_pins_and_addresses_from_code_are_normalized_to_tuples() -> None:
    cfg = Config(pinned_keys=["SHA256/" + PIN[7:]], failover_addresses=["https://b.example/x"])  # type: ignore[arg-type]
    assert cfg.pinned_keys == (PIN,)
    assert cfg.failover_addresses == ("https://b.example/x",)
    hash(cfg)


def test_failover_credentials_are_never_echoed() -> None:
    found = problems({"SOAPGUARD_FAILOVER_ADDRESSES": "https://ops:hunter2@backup.example:0x1/svc"})
    message = found["SOAPGUARD_FAILOVER_ADDRESSES"]
    assert "hunter2" not in message
    assert "backup.example" in message


def test_client_key_password_is_a_secret(tmp_path: Path) -> None:
    found = problems({"SOAPGUARD_CLIENT_KEY_PASSWORD": "hunter2-pass"})
    assert found == {
        "SOAPGUARD_CLIENT_KEY_PASSWORD": "needs SOAPGUARD_CLIENT_CERT (the key it decrypts)"
    }
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    a = Config(client_cert=str(cert), client_key_password="hunter2-a")
    b = Config(client_cert=str(cert), client_key_password="hunter2-b")
    assert "hunter2" not in repr(a)
    assert a != b  # two passwords never share a cached TLS context
    assert pickle.loads(pickle.dumps(a)) == a


def test_code_error_for_a_password_type_does_not_echo_it(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    found = code_problems(client_cert=str(cert), client_key_password=b"hunter2")
    assert "hunter2" not in str(found)


def test_every_variable_has_a_compared_field() -> None:
    from dataclasses import fields

    compared = {f.name for f in fields(Config) if f.compare}
    assert set(_VARS) <= compared
    assert len({var.env for var in _VARS.values()}) == len(_VARS)


# -- ignored environment -------------------------------------------------------------------


def test_plain_config_lists_every_set_variable_as_ignored() -> None:
    env = {
        "SOAPGUARD_MAX_ATTEMPTS": "5",
        "SOAPGUARD_CLIENT_KEY_PASSWORD": "hunter2",
        "SOAPGUARD_DEADLINE": "  ",  # empty counts as unset
        "SOAPGUARD_TYPO": "1",  # unknown: `soapguard config` reports those separately
        "OTHER": "x",
    }
    assert ignored_env(Config(max_attempts=2), env) == [
        "SOAPGUARD_CLIENT_KEY_PASSWORD",
        "SOAPGUARD_MAX_ATTEMPTS",
    ]


def test_from_env_ignores_only_what_code_overrode() -> None:
    env = {"SOAPGUARD_MAX_ATTEMPTS": "5", "SOAPGUARD_DEADLINE": "9"}
    assert ignored_env(Config.from_env(env), env) == []
    assert ignored_env(Config.from_env(env, max_attempts=2), env) == ["SOAPGUARD_MAX_ATTEMPTS"]


def test_ignored_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOAPGUARD_READ_TIMEOUT", "9")
    assert ignored_env(Config()) == ["SOAPGUARD_READ_TIMEOUT"]
    assert ignored_env(Config.from_env()) == []
