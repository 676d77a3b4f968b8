"""The probe's steps between measurements and report: variants, rows, sections.

:mod:`soapguard.cli.probe` runs the steps in order; this module turns one
measurement into its part of the report: a handshake row (and what it taught
about the certificate), the certificate section, the timings, the settings the
probe ran with.  A value that was not measured stays ``None`` here; the human
output says "not measured".
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from ...config import Config
from . import cert as probe_cert
from . import tls as probe_tls

#: the settings the probe reports, for the advice rules and for people
SETTINGS = (
    "tls_profile", "tls_min_version", "tls_max_version", "tls_security_level",
    "tls_legacy_renegotiation", "max_record_size", "pool_idle_timeout",
)  # fmt: skip


def step_timeout(timeout: float, deadline: float) -> float:
    """The timeout for the next step: ``--timeout``, but never past the budget."""
    return max(0.1, min(timeout, deadline - time.monotonic()))


@dataclass
class Verification:
    """What the handshakes learnt about the certificate, and whether to keep verifying."""

    verify: bool = True
    error: dict[str, Any] | None = None
    verify_code: int | None = None
    chain: list[dict[str, Any]] | None = None
    chain_verified: bool = False


def variant(config: Config, **changes: Any) -> Config | str:
    """``config`` with the profile's own suites and ``changes``; the error text if invalid.

    The security level follows the variant: 0 for TLS 1.0/1.1 (which need it), the
    configured 1 where the profile allows it, else 2.
    """
    level = 1 if config.tls_security_level == 1 and changes["tls_profile"] == "legacy" else 2
    if changes["tls_min_version"] in ("1.0", "1.1"):
        level = 0
    try:
        return dataclasses.replace(
            config, ciphers=None, tls13_ciphersuites=None, tls_security_level=level, **changes
        )
    except ValueError as exc:
        return str(exc)


def variants(config: Config) -> list[tuple[str, str, Config | str]]:
    """``(kind, name, config)``: the current settings, each TLS version, each profile."""
    out: list[tuple[str, str, Config | str]] = [("current", "current", config)]
    out += [
        ("version", v, variant(config, tls_profile="legacy", tls_min_version=v, tls_max_version=v))
        for v in ("1.0", "1.1", "1.2", "1.3")
    ]
    out += [
        ("profile", p, variant(config, tls_profile=p, tls_min_version=None, tls_max_version=None))
        for p in ("modern", "intermediate", "legacy")
    ]
    return out


def settings(config: Config, operation: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(config, name) for name in SETTINGS}
    out["ca_bundle"] = "set" if config.ca_bundle else None  # a path may be sensitive
    out["custom_ciphers"] = config.ciphers is not None
    out["idempotent_operations"] = list(config.idempotent_operations)
    out["operation_idempotent"] = config.is_idempotent(operation) if operation else None
    return out


def handshake(
    target: probe_tls.Target, config: Config | str, timeout: float, state: Verification
) -> dict[str, Any]:
    """One handshake row; a rejected certificate switches the rest of the probe to
    unverified handshakes (each row says so), keeping the verdict in ``state``."""
    if isinstance(config, str):
        return {
            "ok": False,
            "verified": None,
            "error": {"error.type": "config", "error.message": config},
        }
    attempt = probe_tls.handshake(target, config, verify=state.verify, timeout=timeout)
    if not attempt.ok and (attempt.error or {}).get("error.type") == "tls.certificate":
        # keep the verdict, then look at the chain (and go on) without verification
        state.error, state.verify_code, state.verify = attempt.error, attempt.verify_code, False
        attempt = probe_tls.handshake(target, config, verify=False, timeout=timeout)
    if attempt.ok and state.chain is None:
        state.chain, state.chain_verified = attempt.chain, attempt.verified
    return {
        "ok": attempt.ok,
        "verified": attempt.verified,
        "tls_version": attempt.tls_version,
        "cipher": attempt.cipher,
        "error": attempt.error,
        "connect_ms": attempt.connect_ms,
        "handshake_ms": attempt.handshake_ms,
    }


def certificate(target: probe_tls.Target, state: Verification) -> dict[str, Any]:
    chain = state.chain or []
    verified = state.chain_verified and state.error is None
    hostname = (
        True if verified else probe_cert.hostname_check(target.host, state.verify_code, chain)
    )
    return {
        "verified": verified,
        "error": state.error,
        "verify_code": state.verify_code,
        "hostname_match": hostname,
        "chain_read_unverified": bool(chain) and not state.chain_verified,
        "chain": chain,
        "trust_store": target.trust_label,
    }


def timings(report: dict[str, Any]) -> dict[str, Any]:
    """TCP connect, TLS handshake and first byte, each from the first step that measured it.

    A handshake that failed may still have connected: its connect time is a measurement.
    """
    rows = report["handshakes"]
    connected: dict[str, Any] = next((r for r in rows if r.get("connect_ms") is not None), {})
    shaken: dict[str, Any] = next((r for r in rows if r["ok"]), {})
    fetched = (report.get("record_size") or {}).get("uncapped") or {}
    return {
        "connect_ms": connected.get("connect_ms"),
        "handshake_ms": shaken.get("handshake_ms"),
        "first_byte_ms": fetched.get("first_byte_ms"),
    }
