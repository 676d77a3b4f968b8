"""Hint rules: each fires on its evidence, not on the evidence next to it, first match wins."""

from __future__ import annotations

from typing import Any

import pytest

from soapguard.diagnostics import FIELDS
from soapguard.diagnostics.hints import RULES, hint_for, is_cbc_suite

PID = 4242


def event(**fields: Any) -> dict[str, Any]:
    """An event with every field null except ``fields`` (``__`` spells ``.``)."""
    out: dict[str, Any] = dict.fromkeys(FIELDS)
    out.update({"process.pid": PID, "connection.created_pid": PID, "connection.requests": 1})
    out.update({k.replace("__", "."): v for k, v in fields.items()})
    return out


def rule(ev: dict[str, Any]) -> str | None:
    """Name of the first rule that applies."""
    return next((r.name for r in RULES if r.applies(ev)), None)


def test_rule_names_are_unique() -> None:
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))


def test_no_evidence_no_hint() -> None:
    assert hint_for(event()) is None
    assert hint_for({}) is None


# -- fork --------------------------------------------------------------------------------------


def test_fork_fires_on_foreign_connection_and_beats_everything() -> None:
    ev = event(
        connection__created_pid=PID - 1,
        error__type="tls.bad_record_mac",
        error__origin="local",
        tls__largest_record_in=16401,
        decision_reason="budget",
    )
    assert rule(ev) == "fork"
    text = hint_for(ev)
    assert text is not None
    assert str(PID - 1) in text
    assert "one client per process" in text


def test_fork_needs_both_pids() -> None:
    assert rule(event(connection__created_pid=None)) is None
    assert rule(event(process__pid=None, connection__created_pid=7)) is None


# -- bad_record_mac ------------------------------------------------------------------------------


def mac(origin: str, **fields: Any) -> dict[str, Any]:
    return event(error__type="tls.bad_record_mac", error__origin=origin, **fields)


def test_local_mac_after_large_records_suggests_4096() -> None:
    ev = mac("local", tls__largest_record_in=16408, tls__cipher="ECDHE-RSA-AES256-GCM-SHA384")
    assert rule(ev) == "bad_record_mac_large_records"
    assert "SOAPGUARD_MAX_RECORD_SIZE=4096" in (hint_for(ev) or "")
    assert "16408" in (hint_for(ev) or "")


def test_large_records_seen_only_in_recent_sizes_count() -> None:
    ev = mac("local", tls__largest_record_in=None, tls__recent_records_in=[517, 16408, 90])
    assert rule(ev) == "bad_record_mac_large_records"


def test_local_mac_with_small_records_is_not_the_large_record_rule() -> None:
    ev = mac("local", tls__largest_record_in=4096, tls__cipher="TLS_AES_256_GCM_SHA384")
    assert rule(ev) == "bad_record_mac_local"
    assert "TLS_AES_256_GCM_SHA384" in (hint_for(ev) or "")


def test_cap_honoured_suggests_lower_cap_or_middlebox() -> None:
    ev = mac("local", tls__largest_record_in=4120, tls__max_fragment_length=4096)
    text = hint_for(ev) or ""
    assert "SOAPGUARD_MAX_RECORD_SIZE=2048" in text
    assert "middlebox" in text


def test_cap_ignored_by_peer_points_at_middlebox() -> None:
    ev = mac("local", tls__largest_record_in=16408, tls__max_fragment_length=4096)
    text = hint_for(ev) or ""
    assert "middlebox" in text
    assert "=4096" not in text


def test_peer_mac_names_the_cipher() -> None:
    ev = mac("peer", tls__cipher="ECDHE-RSA-AES256-SHA384", tls__largest_record_in=16408)
    assert rule(ev) == "bad_record_mac_peer"
    text = hint_for(ev) or ""
    assert "ECDHE-RSA-AES256-SHA384" in text
    assert "SOAPGUARD_TLS_PROFILE" in text
    assert "SOAPGUARD_CIPHERS" in text


def test_peer_mac_without_cipher_still_reads_well() -> None:
    assert "unrecorded cipher" in (hint_for(mac("peer")) or "")


# -- CBC ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cipher", "cbc"),
    [
        ("AES128-SHA", True),
        ("ECDHE-RSA-AES256-SHA384", True),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", True),
        ("ECDHE-RSA-AES128-GCM-SHA256", False),
        ("ECDHE-ECDSA-CHACHA20-POLY1305", False),
        ("TLS_AES_128_CCM_SHA256", False),
        ("TLS_AES_256_GCM_SHA384", False),
        (None, False),
    ],
)
def test_cbc_detection(cipher: str | None, cbc: bool) -> None:
    assert is_cbc_suite(cipher) is cbc


def test_cbc_suite_suggests_intermediate() -> None:
    ev = event(error__type="tls.unexpected_eof", tls__cipher="AES128-SHA")
    assert rule(ev) == "cbc_suite"
    text = hint_for(ev) or ""
    assert "SOAPGUARD_TLS_PROFILE=intermediate" in text
    assert "AES128-SHA" in text


def test_cbc_rule_ignores_aead_and_unrelated_failures() -> None:
    assert rule(event(error__type="tls.unexpected_eof", tls__cipher="AES128-GCM-SHA256")) is None
    assert rule(event(error__type="tls.certificate", tls__cipher="AES128-SHA")) == "certificate"


def test_peer_mac_beats_cbc() -> None:
    assert rule(mac("peer", tls__cipher="AES128-SHA")) == "bad_record_mac_peer"


# -- stale pooled connection -------------------------------------------------------------------


@pytest.mark.parametrize("etype", ["connection.reset", "tls.unexpected_eof", "tls.bad_record_mac"])
def test_reused_connection_failure_is_stale(etype: str) -> None:
    ev = event(error__type=etype, connection__requests=5)
    assert rule(ev) == "stale_connection"
    assert "request 5 on it" in (hint_for(ev) or "")


def test_reused_flag_alone_counts() -> None:
    ev = event(error__type="connection.reset", connection__requests=None, connection__reused=True)
    assert rule(ev) == "stale_connection"


def test_fresh_connection_is_not_stale() -> None:
    assert rule(event(error__type="connection.reset", connection__requests=1)) is None
    assert rule(event(error__type="timeout.read", connection__requests=9)) == "read_timeout"


def test_stale_hint_never_claims_a_retry_that_was_not_made() -> None:
    refused = hint_for(
        event(error__type="connection.reset", connection__requests=2, decision="raise",
              decision_reason="not_idempotent")
    ) or ""  # fmt: skip
    assert "retried the call" not in refused
    assert "was not retried" in refused
    assert "SOAPGUARD_POOL_IDLE_TIMEOUT" in refused
    retried = hint_for(
        event(error__type="connection.reset", connection__requests=2, decision="retry",
              decision_reason="idempotent")
    ) or ""  # fmt: skip
    assert "retried the call on a fresh connection" in retried


# -- a connection that sat idle in the pool ------------------------------------------------------


def idle(**fields: Any) -> dict[str, Any]:
    base = {
        "error__type": "connection.reset",
        "connection__reused": True,
        "connection__requests": 2,
        "connection__idle_ms": 1634.5,
        "phase": "wait",
        "config__pool_idle_timeout": 30.0,
        "decision": "raise",
        "decision_reason": "not_idempotent",
    }
    return event(**{**base, **fields})


@pytest.mark.parametrize("etype", ["connection.reset", "tls.unexpected_eof"])
def test_idle_connection_hint_says_how_long_and_names_the_variable(etype: str) -> None:
    ev = idle(error__type=etype)
    assert rule(ev) == "idle_connection"
    text = hint_for(ev) or ""
    assert "1.6 s" in text
    assert "SOAPGUARD_POOL_IDLE_TIMEOUT (now 30 s)" in text
    assert "not declared idempotent" in text
    assert "retried the call" not in text


@pytest.mark.parametrize(
    ("decision", "reason", "says"),
    [
        ("retry", "idempotent", "soapguard retried the call on a fresh connection"),
        ("retry", "not_sent", "soapguard retried the call on a fresh connection"),
        ("raise", "attempts_exhausted", "SOAPGUARD_MAX_ATTEMPTS were used up"),
        ("raise", "deadline", "no time was left before SOAPGUARD_DEADLINE"),
        ("raise", "budget", "retry budget was spent"),
        ("raise", "non_retryable", "the call was not retried"),
    ],
)
def test_idle_connection_hint_follows_the_decision(decision: str, reason: str, says: str) -> None:
    text = hint_for(idle(decision=decision, decision_reason=reason)) or ""
    assert says in text
    if decision == "raise":
        assert "retried the call" not in text


def test_idle_hint_needs_a_reused_connection_an_idle_time_and_no_response() -> None:
    assert rule(idle(connection__reused=False, connection__requests=1)) != "idle_connection"
    assert rule(idle(connection__idle_ms=None)) == "stale_connection"
    assert rule(idle(phase="receive")) == "stale_connection"
    assert rule(idle(error__type="timeout.read")) == "read_timeout"


def test_pool_timeout_hint_names_maxsize() -> None:
    ev = event(error__type="timeout.pool", decision="retry", decision_reason="not_sent")
    assert rule(ev) == "pool_timeout"
    assert "SOAPGUARD_POOL_MAXSIZE" in (hint_for(ev) or "")


def test_large_records_beat_stale() -> None:
    ev = mac("local", connection__requests=3, tls__largest_record_in=16408)
    assert rule(ev) == "bad_record_mac_large_records"


# -- one rule per error type / decision ----------------------------------------------------------


@pytest.mark.parametrize(
    ("etype", "name", "variable"),
    [
        ("tls.certificate", "certificate", "SOAPGUARD_CA_BUNDLE"),
        ("tls.protocol_version", "protocol_version", "SOAPGUARD_TLS_MIN_VERSION"),
        ("tls.no_shared_cipher", "no_shared_cipher", "soapguard probe"),
        ("timeout.read", "read_timeout", "SOAPGUARD_READ_TIMEOUT"),
        ("timeout.deadline", "deadline", "SOAPGUARD_DEADLINE"),
        ("timeout.connect", "connect_timeout", "SOAPGUARD_CONNECT_TIMEOUT"),
    ],
)
def test_error_type_rules(etype: str, name: str, variable: str) -> None:
    ev = event(error__type=etype)
    assert rule(ev) == name
    assert variable in (hint_for(ev) or "")


def test_no_shared_cipher_also_names_profile_and_ciphers() -> None:
    text = hint_for(event(error__type="tls.no_shared_cipher")) or ""
    assert "SOAPGUARD_TLS_PROFILE=legacy" in text
    assert "SOAPGUARD_CIPHERS" in text


def test_budget() -> None:
    ev = event(error__type="tls.unexpected_eof", decision_reason="budget")
    assert rule(ev) == "budget"
    assert "SOAPGUARD_RETRY_BUDGET" in (hint_for(ev) or "")


@pytest.mark.parametrize("etype", ["connection.reset", "tls.unexpected_eof", "http.status"])
def test_not_idempotent_after_transient_failure(etype: str) -> None:
    ev = event(error__type=etype, decision_reason="not_idempotent", request_sent="full")
    assert rule(ev) == "not_idempotent"
    text = hint_for(ev) or ""
    assert "SOAPGUARD_IDEMPOTENT_OPERATIONS" in text
    assert etype in text


def test_deadline_decision_on_other_failure_names_the_deadline() -> None:
    ev = event(error__type="tls.unexpected_eof", decision_reason="deadline")
    assert rule(ev) == "deadline_reached"
    assert "SOAPGUARD_DEADLINE" in (hint_for(ev) or "")


def test_not_idempotent_needs_a_transient_failure() -> None:
    ev = event(error__type="soap.fault", decision_reason="not_idempotent")
    assert rule(ev) is None


def test_read_timeout_beats_not_idempotent() -> None:
    ev = event(error__type="timeout.read", decision_reason="not_idempotent")
    assert rule(ev) == "read_timeout"


def test_attempts_exhausted() -> None:
    ev = event(error__type="tls.unexpected_eof", decision_reason="attempts_exhausted")
    assert "SOAPGUARD_MAX_ATTEMPTS" in (hint_for(ev) or "")


#: evidence on which each rule is the first to match
EVIDENCE: dict[str, dict[str, Any]] = {
    "cancelled": event(event="soapguard.call_cancelled", outcome="unknown"),
    "pool_timeout": event(error__type="timeout.pool"),
    "fork": event(connection__created_pid=1),
    "bad_record_mac_large_records": mac("local", tls__largest_record_in=9000),
    "bad_record_mac_peer": mac("peer"),
    "cbc_suite": event(error__type="tls.other", tls__cipher="AES256-SHA"),
    "stale_connection": event(error__type="connection.reset", connection__requests=2),
    "idle_connection": event(
        error__type="tls.unexpected_eof", connection__reused=True, connection__idle_ms=95_000.0
    ),
    "certificate": event(error__type="tls.certificate"),
    "protocol_version": event(error__type="tls.protocol_version"),
    "not_tls": event(
        error__type="tls.protocol_version",
        openssl__reason="WRONG_VERSION_NUMBER",
        server__address="h",
        server__port=8080,
    ),
    "no_shared_cipher": event(error__type="tls.no_shared_cipher"),
    "deadline": event(error__type="timeout.deadline"),
    "read_timeout": event(error__type="timeout.read"),
    "budget": event(error__type="http.status", decision_reason="budget"),
    "deadline_reached": event(error__type="connection.reset", decision_reason="deadline"),
    "not_idempotent": event(error__type="connection.reset", decision_reason="not_idempotent"),
    "bad_record_mac_local": mac("local"),
    "connect_timeout": event(error__type="timeout.connect"),
    "attempts_exhausted": event(decision_reason="attempts_exhausted"),
    "refused": event(error__type="connection.refused", server__address="10.0.0.5"),
    "dns": event(error__type="connection.dns", server__address="mainframe.example"),
    "circuit_open": event(error__type="circuit.open", retry_after_s=12.5),
    "handshake_stalled": event(error__type="timeout.connect", phase="handshake"),
    "proxy_tunnel": event(
        error__type="http.status", phase="connect", http__response__status_code=407
    ),
    "record_overflow": event(error__type="tls.record_overflow", error__origin="local"),
    "legacy_renegotiation": event(error__type="tls.legacy_renegotiation"),
    "dh_key_too_small": event(error__type="tls.dh_key_too_small", tls__security_level=2),
    "renegotiation_refused": event(error__type="tls.renegotiation_refused"),
    "weak_certificate": event(
        error__type="tls.certificate",
        error__message="[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        "EE certificate key too weak (_ssl.c:1006)",
    ),
    "handshake_failure": event(error__type="tls.handshake_failure", error__origin="peer"),
    "pin_mismatch": event(error__type="tls.pin_mismatch", tls__server__pins=["sha256/AAAA"]),
    "redirect": event(
        error__type="http.status",
        http__response__status_code=307,
        http__response__header__location="http://soap.example/ledger",
    ),
}


def test_every_rule_has_evidence() -> None:
    assert set(EVIDENCE) == {r.name for r in RULES}


@pytest.mark.parametrize("name", list(EVIDENCE))
def test_every_rule_is_one_sentence_naming_what_to_change(name: str) -> None:
    ev = EVIDENCE[name]
    assert rule(ev) == name
    text = hint_for(ev) or ""
    assert text.endswith(".")
    assert ". " not in text, text  # one sentence
    # what to change: a variable, or (where no variable can help) the code to write
    markers = ("SOAPGUARD_", "one client per process", "create_service", "HTTPS_PROXY")
    assert any(m in text for m in markers)


# -- hints that must match the evidence ------------------------------------------------------------


def test_refused_says_nothing_listens_on_host_and_port_whatever_the_decision() -> None:
    for reason in ("attempts_exhausted", "budget", "deadline", None):
        ev = event(
            error__type="connection.refused",
            server__address="10.0.0.5",
            server__port=8443,
            decision_reason=reason,
        )
        text = hint_for(ev) or ""
        assert "Nothing is listening on 10.0.0.5:8443" in text
        assert "unhealthy" not in text


def test_dns_names_the_host() -> None:
    text = hint_for(event(error__type="connection.dns", server__address="mainframe.example")) or ""
    assert "mainframe.example could not be resolved" in text


def test_connect_timeout_during_the_handshake_says_tls_stalled_not_tcp() -> None:
    ev = event(
        error__type="timeout.connect", phase="handshake", server__address="h", server__port=443
    )
    text = hint_for(ev) or ""
    assert "TCP connected to h:443 but the TLS handshake did not finish" in text
    assert "No TCP connection" not in text


def test_connect_timeout_before_tcp_says_no_tcp_connection() -> None:
    ev = event(error__type="timeout.connect", phase="connect", server__address="h", server__port=1)
    assert rule(ev) == "connect_timeout"
    assert "No TCP connection to h:1" in (hint_for(ev) or "")


def test_circuit_open_says_when_the_next_probe_is_allowed() -> None:
    text = hint_for(event(error__type="circuit.open", retry_after_s=12.5)) or ""
    assert "in 12.5 s" in text


# -- one record-size rule: never back and forth ----------------------------------------------------


def _suggested(text: str) -> int | None:
    import re

    found = re.search(r"SOAPGUARD_MAX_RECORD_SIZE=(\d+)", text)
    return int(found.group(1)) if found else None


def test_a_2048_cap_with_records_within_it_suggests_1024_never_4096() -> None:
    ev = mac("local", config__max_record_size=2048, tls__largest_record_in=2065)
    assert _suggested(hint_for(ev) or "") == 1024


def test_a_4096_cap_suggests_2048_and_2048_then_1024() -> None:
    at_4096 = mac("local", config__max_record_size=4096, tls__largest_record_in=4120)
    at_2048 = mac("local", config__max_record_size=2048, tls__largest_record_in=2065)
    assert _suggested(hint_for(at_4096) or "") == 2048
    assert _suggested(hint_for(at_2048) or "") == 1024


def test_at_512_no_smaller_cap_is_suggested() -> None:
    text = hint_for(mac("local", config__max_record_size=512, tls__largest_record_in=600)) or ""
    assert _suggested(text) is None
    assert "smallest size" in text


def test_a_cap_that_only_limits_what_we_send_is_not_taken_for_a_server_cap() -> None:
    # 3000 is not a max_fragment_length size: the server's records were never capped
    ev = mac("local", config__max_record_size=3000, tls__largest_record_in=16408)
    assert _suggested(hint_for(ev) or "") == 2048


@pytest.mark.parametrize("configured", [None, 512, 1024, 2048, 3000, 4096, 8192])
@pytest.mark.parametrize("largest", [None, 600, 1100, 2065, 2400, 4120, 4500, 9000, 16408])
def test_a_suggested_cap_is_always_below_the_one_in_effect(
    configured: int | None, largest: int | None
) -> None:
    ev = mac("local", config__max_record_size=configured, tls__largest_record_in=largest)
    suggested = _suggested(hint_for(ev) or "")
    if suggested is not None:
        assert suggested < (configured if configured is not None else 16385)
        assert suggested in (512, 1024, 2048, 4096)


def test_the_documented_rule_table_lists_every_rule_in_order() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    table = doc[doc.index("| rule | evidence | suggests |") :]
    table = table[: table.index("\n\n")]
    documented = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert documented == [r.name for r in RULES]


def test_a_port_that_does_not_speak_tls_is_named_as_such() -> None:
    ev = event(
        error__type="tls.protocol_version",
        openssl__reason="WRONG_VERSION_NUMBER",
        server__address="10.1.1.1",
        server__port=8080,
    )
    text = hint_for(ev) or ""
    assert "What answered on 10.1.1.1:8080 did not speak TLS" in text
    assert "SOAPGUARD_TLS_PROFILE" not in text
    # a real version mismatch keeps its own advice
    assert rule(
        event(error__type="tls.protocol_version", openssl__reason="UNSUPPORTED_PROTOCOL")
    ) == ("protocol_version")
