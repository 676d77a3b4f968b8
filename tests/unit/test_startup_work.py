"""Work a new client no longer repeats: the same answers, read fewer times (no sockets)."""

from __future__ import annotations

import os
import urllib.request

import pytest

from soapguard import Config, ConfigError
from soapguard.transport.proxies import Proxies, environment_proxies, proxy_secrets

PROXY_ENVIRONMENTS = [
    {},
    {"HTTPS_PROXY": "http://upper:1"},
    {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"},
    {"HTTPS_PROXY": "http://upper:1", "https_proxy": ""},  # empty lower case removes it
    {"Https_Proxy": "http://mixed:1", "NO_PROXY": "localhost,.internal"},
    {"ALL_PROXY": "socks5://all:1", "no_proxy": "*"},
    # under CGI a client's "Proxy:" header becomes HTTP_PROXY: only http_proxy counts
    {"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://header:1"},
    {"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://header:1", "http_proxy": "http://ok:1"},
    {"FTP_PROXY": "", "ftp_proxy": "http://ftp:1", "NOT_A_PROXYX": "x"},
]


def _only(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("variables", PROXY_ENVIRONMENTS)
def test_proxies_are_read_as_urllib_reads_them(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    _only(monkeypatch, variables)
    assert environment_proxies() == urllib.request.getproxies_environment()


def test_proxy_variables_are_read_once_when_first_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    _only(monkeypatch, {})
    proxies = Proxies.from_environment()  # what building a transport does: nothing read yet
    monkeypatch.setenv("HTTPS_PROXY", "http://user:s3cret-pass@proxy.example:3128")
    assert proxies.for_url("https://host.example/svc") == {
        "https": "http://user:s3cret-pass@proxy.example:3128"
    }
    assert "s3cret-pass" in proxy_secrets(proxies)  # masked in every form it takes
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:3128")  # read once: ignored now
    assert proxies.for_url("https://elsewhere.example/svc")["https"].endswith("proxy.example:3128")


def test_config_from_the_same_environment_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "4")
    first = Config.from_env()
    assert Config.from_env() is first  # immutable, so every client may share it
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "5")
    changed = Config.from_env()
    assert changed.max_attempts == 5
    assert changed.sources["max_attempts"] == "env"
    monkeypatch.delenv("SOAPGUARD_MAX_ATTEMPTS")
    assert Config.from_env().max_attempts == Config().max_attempts
    # arguments are never served from the cache
    assert Config.from_env(max_attempts=2).max_attempts == 2


def test_a_bad_environment_fails_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "many")
    for _ in range(2):
        with pytest.raises(ConfigError, match="SOAPGUARD_MAX_ATTEMPTS"):
            Config.from_env()
