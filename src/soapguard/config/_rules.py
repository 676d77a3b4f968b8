"""Validation of :class:`~soapguard.Config` values: forms, ranges and the rules between fields.

It runs on every Config, whether a value came from code or from a
``SOAPGUARD_*`` variable, and returns every problem at once as
``(field, message)`` pairs; :mod:`soapguard.config` turns the field names into
the names people set.  A message echoes the value only for variables that
cannot hold a secret, truncated, and with credentials in URLs masked.

A rule between two fields (a minimum above a maximum, a security level that
does not fit the TLS versions) is reported against *both* fields, each message
naming the other variable: which of the two is wrong is the operator's call.

Files are only looked at (exists, is a directory), never read: whether a file
really holds a certificate or a key is checked when the TLS context is built,
that is when a client is built.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..tls import profiles
from ._vars import (
    MAX_SECONDS,
    PIN_PREFIX,
    PROFILES,
    TLS_VERSIONS,
    VARS,
    env_name,
    got,
    mask_urls,
    truncate,
)

Problems = list[tuple[str, str]]

#: an HTTP header name (RFC 9110 token)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: headers that HTTP, SOAP or credentials already use: a key sent in one would break the
#: request or overwrite a credential
_RESERVED_HEADERS = frozenset(
    {
        "authorization", "connection", "content-length", "content-type", "cookie", "expect",
        "host", "keep-alive", "proxy-authorization", "soapaction", "te", "trailer",
        "transfer-encoding", "upgrade",
    }
)  # fmt: skip
_PROFILE_MIN = {"modern": "1.3", "intermediate": "1.2", "legacy": "1.2"}
_OLD = ("1.0", "1.1")
_TLS13_NAME = re.compile(r"TLS_[A-Z0-9_]+")


class _Checker:
    def __init__(self, values: Mapping[str, Any]) -> None:
        self.v = values
        self.bad: Problems = []

    def add(self, name: str, message: str) -> None:
        self.bad.append((name, message))

    def want(self, name: str, ok: bool, detail: str = "") -> bool:
        if not ok:
            self.add(name, f"expected {VARS[name].expected}{detail}{got(name, self.v[name])}")
        return ok

    def conflict(self, a: str, about_a: str, b: str, about_b: str) -> None:
        """Two fields that do not fit together: both are named, each pointing at the other."""
        self.add(a, about_a)
        self.add(b, about_b)

    def number(self, name: str, low: float, high: float, *, above: bool = False) -> bool:
        """``low <= x <= high`` (``low < x`` with ``above``); False for bools, nan and inf."""
        x = self.v[name]
        if isinstance(x, bool) or not isinstance(x, int | float) or not low <= x <= high:
            return False  # nan fails every comparison, inf fails the upper bound
        return x > low if above else True

    def integer(self, name: str, low: int, high: int | None = None) -> bool:
        x = self.v[name]
        return type(x) is int and x >= low and (high is None or x <= high)

    def strings(self, name: str) -> bool:
        items = self.v[name]
        return isinstance(items, tuple | list) and all(isinstance(p, str) and p for p in items)


def check(values: Mapping[str, Any]) -> Problems:
    """Every problem of ``values`` (one entry per field with a variable), in field order."""
    c = _Checker(values)
    _tls_versions(c)
    _suites(c)
    _material(c)
    _numbers(c)
    _lists(c)
    for name in ("log_payloads", "tls_legacy_renegotiation", "circuit_breaker"):
        c.want(name, isinstance(values[name], bool))
    return c.bad


def _tls_versions(c: _Checker) -> None:
    v = c.v
    profile, lo, hi = v["tls_profile"], v["tls_min_version"], v["tls_max_version"]
    known = [
        c.want("tls_profile", profile in PROFILES),
        c.want("tls_min_version", lo is None or lo in TLS_VERSIONS),
        c.want("tls_max_version", hi is None or hi in TLS_VERSIONS),
    ]
    level = v["tls_security_level"]
    known.append(c.want("tls_security_level", type(level) is int and level in (0, 1, 2)))
    if not all(known):
        return
    before = len(c.bad)
    if profile != "legacy":
        for name in ("tls_min_version", "tls_max_version"):
            if v[name] in _OLD:
                c.conflict(
                    name, f"{v[name]} needs SOAPGUARD_TLS_PROFILE=legacy",
                    "tls_profile", f"{profile} does not allow TLS {v[name]} ({env_name(name)})",
                )  # fmt: skip
    if profile == "modern" and "1.2" in (lo, hi):
        name = "tls_min_version" if lo == "1.2" else "tls_max_version"
        c.conflict(
            "tls_profile", f"modern is TLS 1.3 only, but {env_name(name)} is 1.2",
            name, "1.2 is not allowed with SOAPGUARD_TLS_PROFILE=modern",
        )  # fmt: skip
    low = lo or _PROFILE_MIN[profile]
    if len(c.bad) == before and hi is not None and TLS_VERSIONS.index(low) > TLS_VERSIONS.index(hi):
        if lo is not None:
            c.conflict(
                "tls_min_version", f"{lo} is above SOAPGUARD_TLS_MAX_VERSION ({hi})",
                "tls_max_version", f"{hi} is below SOAPGUARD_TLS_MIN_VERSION ({lo})",
            )  # fmt: skip
        else:
            c.add(
                "tls_max_version",
                f"{hi} is below the {profile} profile's minimum TLS {low}: "
                "set SOAPGUARD_TLS_MIN_VERSION as well",
            )
    _security_level(c, profile, lo, level)


def _security_level(c: _Checker, profile: str, lo: str | None, level: int) -> None:
    """Level 1 only with legacy; TLS 1.0/1.1 need level 0 and level 0 needs them."""
    if level == 1 and profile != "legacy":
        c.conflict(
            "tls_security_level", "1 is only allowed with SOAPGUARD_TLS_PROFILE=legacy",
            "tls_profile", f"{profile} needs SOAPGUARD_TLS_SECURITY_LEVEL=2",
        )  # fmt: skip
    old = lo in _OLD
    if old and level != 0:
        c.conflict(
            "tls_security_level",
            f"must be 0 when SOAPGUARD_TLS_MIN_VERSION is {lo} (OpenSSL 3 negotiates "
            f"TLS 1.0 and 1.1 only at level 0), got {level}",
            "tls_min_version", f"{lo} requires SOAPGUARD_TLS_SECURITY_LEVEL=0",
        )  # fmt: skip
    if level == 0 and not old:
        c.conflict(
            "tls_security_level", "0 is only allowed with SOAPGUARD_TLS_MIN_VERSION 1.0 or 1.1",
            "tls_min_version",
            f"{lo or 'the profile minimum'} is not below 1.2, "
            "which SOAPGUARD_TLS_SECURITY_LEVEL=0 is for",
        )  # fmt: skip


def _suites(c: _Checker) -> None:

    ciphers = c.v["ciphers"]
    if ciphers is not None and c.want("ciphers", isinstance(ciphers, str) and bool(ciphers)):
        verdict = profiles.cipher_string_verdict(ciphers)
        if verdict == "seclevel":
            c.add(
                "ciphers",
                "must not contain @SECLEVEL: set SOAPGUARD_TLS_SECURITY_LEVEL instead"
                + got("ciphers", ciphers),
            )
        elif verdict == "forbidden":
            never = "RC4, 3DES, DES, NULL, EXPORT, MD5, anonymous, PSK, SRP"
            c.add(
                "ciphers",
                f"every suite this cipher string selects is one soapguard never offers ({never})"
                + got("ciphers", ciphers),
            )
        else:
            c.want("ciphers", verdict == "ok", " that selects a suite this OpenSSL supports")
    suites = c.v["tls13_ciphersuites"]
    if suites is None:
        return
    names = [n.strip() for n in suites.split(":")] if isinstance(suites, str) else [""]
    unknown = [n for n in names if not _TLS13_NAME.fullmatch(n) or n not in profiles.TLS13_KNOWN]
    if unknown:
        c.want("tls13_ciphersuites", False, f" ({truncate(unknown[0])!r} is not one)")
    elif not any(n in profiles.TLS13_ALLOWED for n in names):
        allowed = ", ".join(profiles.TLS13_ALLOWED)
        c.add(
            "tls13_ciphersuites",
            f"names no suite soapguard allows (allowed: {allowed})"
            + got("tls13_ciphersuites", suites),
        )


def _material(c: _Checker) -> None:
    v = c.v
    for name, file_only in (("ca_bundle", False), ("client_cert", True), ("client_key", True)):
        path = v[name]
        if path is None or not c.want(name, isinstance(path, str) and bool(path)):
            continue
        if not os.path.exists(path):
            c.want(name, False, " (it does not exist)")
        elif file_only and os.path.isdir(path):
            c.want(name, False, " (it is a directory)")
    if v["client_key"] is not None and v["client_cert"] is None:
        c.add("client_key", "needs SOAPGUARD_CLIENT_CERT as well")
    password = v["client_key_password"]
    valid = password is None or c.want("client_key_password", isinstance(password, str))
    if password is not None and valid and v["client_cert"] is None:
        c.add("client_key_password", "needs SOAPGUARD_CLIENT_CERT (the key it decrypts)")
    mrs = v["max_record_size"]
    c.want("max_record_size", mrs is None or (type(mrs) is int and 512 <= mrs <= 16384))
    c.want("cert_expiry_warning", c.integer("cert_expiry_warning", 0, 3650))
    pins = v["pinned_keys"]
    if c.want("pinned_keys", c.strings("pinned_keys")):
        wrong = [(pin, problem) for pin in pins if (problem := _pin_problem(pin))]
        if wrong:
            pin, problem = wrong[0]
            c.add("pinned_keys", f"expected {VARS['pinned_keys'].expected}, got {truncate(pin)!r}"
                  f" ({problem})")  # fmt: skip


def _pin_problem(pin: str) -> str:
    if pin[: len(PIN_PREFIX)].lower() != PIN_PREFIX:
        return f"it does not start with {PIN_PREFIX}"
    try:
        digest = base64.b64decode(pin[len(PIN_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return "not valid base64"
    return "" if len(digest) == 32 else f"it decodes to {len(digest)} bytes, not 32"


def _numbers(c: _Checker) -> None:
    v = c.v
    for name in (
        "connect_timeout", "read_timeout", "deadline", "pool_idle_timeout",
        "breaker_window", "breaker_open_seconds",
    ):  # fmt: skip
        c.want(name, c.number(name, 0, MAX_SECONDS, above=True))
    if v["pool_max_age"] is not None:
        c.want("pool_max_age", c.number("pool_max_age", 0, MAX_SECONDS, above=True))
    c.want("max_attempts", c.integer("max_attempts", 1, 10))
    c.want("pool_maxsize", c.integer("pool_maxsize", 1, 1000))
    c.want("breaker_min_calls", c.integer("breaker_min_calls", 1))
    c.want("retry_budget", c.number("retry_budget", 0, 1))
    c.want("breaker_failure_ratio", c.number("breaker_failure_ratio", 0, 1, above=True))
    initial = c.want("backoff_initial", c.number("backoff_initial", 0, MAX_SECONDS))
    if c.want("backoff_max", c.number("backoff_max", 0, MAX_SECONDS)) and initial:
        low, high = v["backoff_initial"], v["backoff_max"]
        if low > high:
            c.conflict(
                "backoff_initial", f"{low:g} is above SOAPGUARD_BACKOFF_MAX ({high:g})",
                "backoff_max", f"{high:g} is below SOAPGUARD_BACKOFF_INITIAL ({low:g})",
            )  # fmt: skip


def _lists(c: _Checker) -> None:
    v = c.v
    for name in ("idempotent_operations", "sensitive_elements"):
        c.want(name, c.strings(name))
    if c.want("failover_addresses", c.strings("failover_addresses")):
        wrong = [url for url in v["failover_addresses"] if not _is_endpoint(url)]
        if wrong:
            shown = truncate(mask_urls(wrong[0]))
            c.add("failover_addresses", f"expected {VARS['failover_addresses'].expected}, "
                  f"got {shown!r}")  # fmt: skip
    header = v["idempotency_header"]
    if header is None:
        return
    token = isinstance(header, str) and bool(_TOKEN.fullmatch(header))
    if c.want("idempotency_header", token) and header.lower() in _RESERVED_HEADERS:
        c.add(
            "idempotency_header",
            f"{truncate(header)!r} is a header HTTP or SOAP already uses: "
            "pick another, such as Idempotency-Key",
        )


def _is_endpoint(url: str) -> bool:
    if any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
