"""The probe's identity conclusions, on recorded measurements (pure functions)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from soapguard import Config
from soapguard.cli.probe.identity import check, notes, problems


def pin(name: str) -> str:
    return "sha256/" + base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()


LEAF, CA, ROOT, OTHER = pin("leaf"), pin("ca"), pin("root"), pin("other")
CHAIN = [
    {"subject": "CN=svc", "days_left": 5, "spki_pin": LEAF},
    {"subject": "CN=Issuing CA", "days_left": 20, "spki_pin": CA},
    {"subject": "CN=Root", "days_left": 4000, "spki_pin": ROOT},
]


def certificate(verified: bool = True, chain: list[dict[str, Any]] = CHAIN) -> dict[str, Any]:
    return {"verified": verified, "chain_read_unverified": not verified, "chain": chain}


def test_certificates_expiring_within_the_configured_period_are_notes() -> None:
    identity = check(Config(), certificate())
    assert notes(identity) == [
        "the server certificate expires in 5 days",
        "chain certificate [1] (CN=Issuing CA) expires in 20 days",
    ]
    assert problems(identity) == []
    assert notes(check(Config(cert_expiry_warning=10), certificate())) == [
        "the server certificate expires in 5 days"
    ]
    assert notes(check(Config(cert_expiry_warning=0), certificate())) == []


def test_expired_certificates_are_not_notes() -> None:  # the certificate error says it
    identity = check(Config(), certificate(False, [{"subject": "CN=x", "days_left": -3}]))
    assert notes(identity) == []


def test_pins_match_any_certificate_of_a_verified_chain_only() -> None:
    identity = check(Config(pinned_keys=(ROOT,)), certificate())
    assert identity["pins"]["matched_index"] == 2
    assert identity["pins"]["ok"] is True
    assert identity["chain_pins"] == [LEAF, CA, ROOT]
    unverified = check(Config(pinned_keys=(ROOT,)), certificate(verified=False))
    assert unverified["pins"]["ok"] is False
    assert "cannot be checked" in problems(unverified)[0]
    mismatch = check(Config(pinned_keys=(OTHER,)), certificate())
    assert f"its certificate presents {LEAF}" in problems(mismatch)[0]


def test_no_pins_and_no_client_certificate_mean_nothing_to_say() -> None:
    identity = check(Config(), certificate(chain=[]))
    assert identity["pins"] is None
    assert identity["client_certificate"] is None
    assert problems(identity) == []
    assert notes(identity) == []


def test_a_client_certificate_expiring_soon_is_a_note() -> None:
    identity = {
        "expiry_warning_days": 30,
        "expiring": [],
        "client_certificate": {"ok": True, "problems": [], "days_left": 12},
    }
    assert notes(identity) == ["the client certificate (SOAPGUARD_CLIENT_CERT) expires in 12 days"]
