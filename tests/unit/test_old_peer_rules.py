"""Old peers under OpenSSL 3, without sockets: the switches on the context, the classifier,
the retry rules, the hints, the event field and the probe's pure conclusions.

The same behaviour against real servers is in ``tests/integration/test_legacy_peers.py``
(this file has another name: pytest needs unique basenames across the two folders).
"""

from __future__ import annotations

import ssl
from typing import Any

import pytest
import requests
import requests.exceptions as rex
import urllib3
import urllib3.exceptions as u3

from soapguard.classify import TYPES, classify
from soapguard.cli.probe import advice, legacy
from soapguard.config import Config
from soapguard.diagnostics import FIELDS
from soapguard.diagnostics.events import attempt_event
from soapguard.diagnostics.hints import hint_for
from soapguard.retry.rules import ENDPOINT_SPECIFIC, NEVER_RETRIED, decide
from soapguard.tls import context as tls
from soapguard.tls import profiles
from soapguard.transport.evidence import Attempt, CallContext, ConnInfo, RecordStats

POOL = urllib3.HTTPSConnectionPool("soap.example", 443)
REQ = requests.Request("POST", "https://soap.example/svc").prepare()
LEGACY_TYPES = ("tls.legacy_renegotiation", "tls.dh_key_too_small", "tls.renegotiation_refused")


def ssl_error(reason: str, text: str) -> ssl.SSLError:
    exc = ssl.SSLError(1, f"[SSL: {reason}] {text} (_ssl.c:1006)")
    exc.library, exc.reason = "SSL", reason  # as _ssl.c sets them
    return exc


def as_requests_raises(leaf: BaseException) -> BaseException:
    """``requests.SSLError(MaxRetryError(reason=urllib3.SSLError(leaf)))``, linked as raised."""
    wrapped = u3.SSLError(leaf)
    wrapped.__context__ = leaf
    retry = u3.MaxRetryError(POOL, "/svc", reason=wrapped)
    retry.__cause__ = retry.__context__ = wrapped
    outer = rex.SSLError(retry, request=REQ)
    outer.__context__ = retry
    return outer


# -- the context -------------------------------------------------------------------------------


@pytest.mark.parametrize("switch", [False, True])
def test_legacy_renegotiation_switch_sets_exactly_one_option_and_never_renegotiates(
    switch: bool,
) -> None:
    ctx = tls.context_for(Config(tls_legacy_renegotiation=switch))
    assert bool(ctx.options & profiles.OP_LEGACY_SERVER_CONNECT) is switch
    assert ctx.options & ssl.OP_NO_RENEGOTIATION  # soapguard itself never renegotiates
    if hasattr(ssl, "OP_LEGACY_SERVER_CONNECT"):  # Python 3.12+ names the same bit
        assert ssl.OP_LEGACY_SERVER_CONNECT == profiles.OP_LEGACY_SERVER_CONNECT


def test_the_switch_is_part_of_the_context_cache_key() -> None:
    on = tls.context_for(Config(tls_legacy_renegotiation=True))
    off = tls.context_for(Config())
    assert on is not off
    assert tls.context_for(Config()) is off


def test_legacy_profile_offers_dhe_rsa_with_gcm_and_cbc_and_intermediate_does_not() -> None:
    def names(config: Config) -> set[str]:
        return {c["name"] for c in tls.context_for(config).get_ciphers()}

    legacy_suites = names(Config(tls_profile="legacy"))
    for suite in ("DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-AES128-SHA"):
        assert suite in legacy_suites
    assert not {n for n in names(Config()) if n.startswith("DHE-")}
    without = names(Config(tls_profile="legacy", ciphers=profiles.LEGACY_WITHOUT_DHE))
    assert not {n for n in without if n.startswith("DHE-")}
    assert "AES128-SHA" in without
    assert "ECDHE-RSA-AES128-SHA" in without
    # ECDHE first, DHE before static RSA (forward secrecy first)
    ordered = [c["name"] for c in tls.context_for(Config(tls_profile="legacy")).get_ciphers()]
    tls12 = [n for n in ordered if not n.startswith("TLS_")]
    first_dhe = next(i for i, n in enumerate(tls12) if n.startswith("DHE-"))
    assert all(n.startswith("ECDHE-") for n in tls12[:first_dhe])
    assert all(not n.startswith("ECDHE-") for n in tls12[first_dhe:])


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")
def test_every_legacy_switch_on_still_never_offers_a_forbidden_suite() -> None:
    config = Config.from_env(
        {
            "SOAPGUARD_TLS_PROFILE": "legacy",
            "SOAPGUARD_TLS_MIN_VERSION": "1.0",
            "SOAPGUARD_TLS_SECURITY_LEVEL": "0",
            "SOAPGUARD_TLS_LEGACY_RENEGOTIATION": "true",
            "SOAPGUARD_CIPHERS": "ALL:eNULL",
        }
    )
    ctx = tls.context_for(config)
    assert ctx.security_level == 0
    assert ctx.check_hostname
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    bad = [c for c in ctx.get_ciphers() if profiles.BAD_DESCRIPTION.search(c["description"])]
    assert bad == []
    assert len(ctx.get_ciphers()) > 10  # the control: ALL did enable plenty of others


def test_level_1_without_legacy_is_a_config_error_naming_both_variables() -> None:
    with pytest.raises(ValueError, match="SOAPGUARD_TLS_SECURITY_LEVEL") as info:
        Config.from_env({"SOAPGUARD_TLS_SECURITY_LEVEL": "1"})
    assert "SOAPGUARD_TLS_PROFILE" in str(info.value)


# -- the classifier ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "text", "kind"),
    [
        (
            "UNSAFE_LEGACY_RENEGOTIATION_DISABLED",
            "unsafe legacy renegotiation disabled",
            "tls.legacy_renegotiation",
        ),
        ("DH_KEY_TOO_SMALL", "dh key too small", "tls.dh_key_too_small"),
    ],
)
def test_old_peer_refusals_from_openssls_reason(reason: str, text: str, kind: str) -> None:
    failure = classify(as_requests_raises(ssl_error(reason, text)))
    assert (failure.type, failure.origin, failure.reason) == (kind, "local", reason)
    assert (failure.phase, failure.request_sent) == ("handshake", "none")
    # the reason code decides, not the words: other text, same verdict
    assert classify(as_requests_raises(ssl_error(reason, "something else"))).type == kind
    # without the structured reason the bracketed prefix of the message still tells
    bare = ssl.SSLError(1, f"[SSL: {reason}] {text} (_ssl.c:1006)")
    assert classify(as_requests_raises(bare)).type == kind
    assert kind in TYPES


def handshake_failure_alert() -> BaseException:
    return as_requests_raises(
        ssl_error("SSLV3_ALERT_HANDSHAKE_FAILURE", "sslv3 alert handshake failure")
    )


def waiting(alert_out: tuple[int, int] | None) -> Attempt:
    """An attempt whose request was sent on a traced connection, now waiting."""
    records = RecordStats(records_in=12, records_out=6, alert_out=alert_out)
    conn = ConnInfo("soap.example", 443, tls_version="1.2", requests=1, records=records)
    return Attempt(phase="wait", bytes_sent=900, request_complete=True, conn=conn)


def test_a_declined_renegotiation_explains_what_followed() -> None:
    failure = classify(handshake_failure_alert(), waiting(alert_out=(1, 100)))
    assert failure.type == "tls.renegotiation_refused"
    assert failure.origin == "local"
    assert (failure.phase, failure.request_sent, failure.outcome) == ("wait", "full", "unknown")
    assert failure.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"  # what the server then sent
    # the server just closing after our refusal is the same failure
    reset = rex.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
    assert classify(reset, waiting(alert_out=(1, 100))).type == "tls.renegotiation_refused"


@pytest.mark.parametrize("alert_out", [None, (2, 40), (1, 0)])
def test_without_our_no_renegotiation_alert_it_is_not_a_refused_renegotiation(
    alert_out: tuple[int, int] | None,
) -> None:
    failure = classify(handshake_failure_alert(), waiting(alert_out))
    assert failure.type != "tls.renegotiation_refused"


def test_an_http_answer_after_a_declined_renegotiation_is_that_answer() -> None:
    response = requests.Response()
    response.status_code = 403
    error = rex.HTTPError("403 Forbidden", response=response)
    assert classify(error, waiting(alert_out=(1, 100))).type == "http.status"


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LEGACY_TYPES)
@pytest.mark.parametrize("sent", ["none", "full"])
def test_old_peer_failures_are_never_retried(kind: str, sent: Any) -> None:
    from soapguard.classify.failure import Failure

    failure = Failure(kind, "local", "x", request_sent=sent)
    decision = decide(
        failure, idempotent=True, attempt=1, max_attempts=10, remaining=100.0, sleep=0.0
    )
    assert (decision.retry, decision.reason) == (False, "non_retryable")


def test_deterministic_tls_is_what_the_breaker_may_ignore() -> None:
    assert set(LEGACY_TYPES) <= ENDPOINT_SPECIFIC <= NEVER_RETRIED
    assert all(kind.startswith("tls.") for kind in ENDPOINT_SPECIFIC)
    # transient TLS failures stay out: they are what a breaker is for
    assert not {"tls.bad_record_mac", "tls.unexpected_eof", "tls.other"} & ENDPOINT_SPECIFIC


# -- hints and the event ------------------------------------------------------------------------


def event(**fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(FIELDS)
    out.update({k.replace("__", "."): v for k, v in fields.items()})
    return out


def test_legacy_renegotiation_hint_names_the_switch_and_the_attack_it_allows() -> None:
    text = hint_for(event(error__type="tls.legacy_renegotiation", decision_reason="non_retryable"))
    assert text is not None
    assert "SOAPGUARD_TLS_LEGACY_RENEGOTIATION=true" in text
    assert "CVE-2009-3555" in text
    assert "trusted network path" in text
    assert "never renegotiates" in text


def test_dh_hint_prefers_a_suite_without_dhe_then_names_level_1_and_its_cost() -> None:
    text = hint_for(event(error__type="tls.dh_key_too_small", tls__security_level=2)) or ""
    assert text.index("SOAPGUARD_CIPHERS") < text.index("SOAPGUARD_TLS_SECURITY_LEVEL=1")
    assert "SOAPGUARD_TLS_PROFILE=legacy" in text
    assert "soapguard probe" in text
    assert "1024-bit" in text
    assert "80-bit" in text
    at_1 = hint_for(event(error__type="tls.dh_key_too_small", tls__security_level=1)) or ""
    assert "SOAPGUARD_TLS_SECURITY_LEVEL=1" in at_1
    assert "no soapguard setting" in at_1


def test_renegotiation_refused_hint_says_soapguard_refuses_it() -> None:
    text = hint_for(event(error__type="tls.renegotiation_refused")) or ""
    assert "never renegotiates" in text
    assert "client certificate" in text


@pytest.mark.parametrize("kind", [*LEGACY_TYPES, "tls.handshake_failure"])
@pytest.mark.parametrize("reason", ["non_retryable", "attempts_exhausted"])
def test_no_old_peer_refusal_is_called_an_unhealthy_endpoint(kind: str, reason: str) -> None:
    text = hint_for(event(error__type=kind, decision_reason=reason)) or ""
    assert text
    assert "SOAPGUARD_MAX_ATTEMPTS" not in text
    assert "unhealthy" not in text


# the messages OpenSSL 3.0 gives for a 1024-bit RSA leaf and a SHA-1-signed leaf (seen live)
SMALL_KEY = (
    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: EE certificate key too weak"
)
SHA1_SIGNED = (
    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    "CA signature digest algorithm too weak"
)


def test_a_small_certificate_key_is_hinted_with_level_1_and_a_sha1_signature_is_not() -> None:
    small = hint_for(event(error__type="tls.certificate", error__message=SMALL_KEY)) or ""
    assert "SOAPGUARD_TLS_SECURITY_LEVEL=1" in small
    assert "reissued" in small
    sha1 = hint_for(event(error__type="tls.certificate", error__message=SHA1_SIGNED)) or ""
    assert "SHA-256" in sha1
    assert "SOAPGUARD_TLS_SECURITY_LEVEL cannot" in sha1  # level 1 would not help: no false hope
    plain = hint_for(event(error__type="tls.certificate", error__message="unable to get issuer"))
    assert "SOAPGUARD_CA_BUNDLE" in (plain or "")


def test_a_peer_handshake_failure_points_at_the_probe() -> None:
    text = hint_for(event(error__type="tls.handshake_failure", error__origin="peer")) or ""
    assert "soapguard probe" in text


def test_the_event_carries_the_security_level_the_connection_was_made_with() -> None:
    ctx = CallContext("Ledger", "GetBalance", "https://soap.example/svc", True, 3)
    attempt = Attempt(phase="handshake", conn=ConnInfo("soap.example", 443, security_level=1))
    failure = classify(as_requests_raises(ssl_error("DH_KEY_TOO_SMALL", "dh key too small")))
    ev = attempt_event(
        ctx, attempt, failure, decision="raise", decision_reason="non_retryable",
        backoff_ms=None, duration_ms=1.0, config=Config(tls_profile="legacy"),
    )  # fmt: skip
    assert ev["tls.security_level"] == 1
    assert "too small even for SOAPGUARD_TLS_SECURITY_LEVEL=1" in (ev["hint"] or "")


# -- the probe's conclusions ---------------------------------------------------------------------


def row(kind: str, name: str, ok: bool, error: str | None = None, **kw: Any) -> dict[str, Any]:
    return {
        "kind": kind, "name": name, "ok": ok, "tls_version": "1.2" if ok else None,
        "cipher": kw.pop("cipher", "ECDHE-RSA-AES128-GCM-SHA256" if ok else None),
        "error": {"error.type": error} if error else None, **kw,
    }  # fmt: skip


class FakeHandshakes:
    """Answers handshakes from a rule, and records the configs it was asked to try."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.tried: list[Config] = []

    def __call__(self, config: Config) -> dict[str, Any]:
        self.tried.append(config)
        ok, error, cipher = self.answer(config)
        return row("x", "x", ok, error, cipher=cipher)


def no_secure_renegotiation(config: Config) -> tuple[bool, str | None, str | None]:
    if config.tls_legacy_renegotiation:
        return True, None, "ECDHE-RSA-AES128-GCM-SHA256"
    return False, "tls.legacy_renegotiation", None


def small_dh(config: Config) -> tuple[bool, str | None, str | None]:
    if config.ciphers == profiles.LEGACY_WITHOUT_DHE:
        return False, "tls.no_shared_cipher", None
    if config.tls_profile != "legacy":
        return False, "tls.no_shared_cipher", None
    if config.tls_security_level == 2:
        return False, "tls.dh_key_too_small", None
    return True, None, "DHE-RSA-AES128-GCM-SHA256"


def run_probe(answer: Any, config: Config | None = None) -> tuple[dict[str, Any], FakeHandshakes]:
    """The probe's variant loop and conclusions, over fake handshakes."""
    config = config or Config()
    shake = FakeHandshakes(answer)
    checks = legacy.Checks(config, shake)
    rows = [{**shake(config), "kind": "current", "name": "current"}]
    for name in ("intermediate", "legacy"):
        variant = Config(**{**_tls(config), "tls_profile": name, "tls_security_level": 2})
        found, _ = checks.widen(shake(variant), variant)
        rows.append({**found, "kind": "profile", "name": name})
    settings = {**_tls(config), "idempotent_operations": []}
    report: dict[str, Any] = {"handshakes": rows, "settings": settings}
    report["legacy_peer"] = checks.findings(report)
    report["recommendations"] = advice.recommend(report, settings)
    report["recommendation_check"] = checks.verify(report["recommendations"])
    report["problems"] = advice.problems(report)
    return report, shake


def _tls(config: Config) -> dict[str, Any]:
    names = ("tls_profile", "tls_security_level", "tls_legacy_renegotiation")
    return {name: getattr(config, name) for name in names}


def lines(report: dict[str, Any]) -> list[str]:
    return [r["line"] for r in report["recommendations"]]


def test_probe_recommends_the_renegotiation_switch_only_after_seeing_it_needed() -> None:
    report, shake = run_probe(no_secure_renegotiation)
    assert lines(report) == ["SOAPGUARD_TLS_LEGACY_RENEGOTIATION=true"]
    assert "CVE-2009-3555" in report["recommendations"][0]["reason"]
    assert report["recommendations"][0]["verified"] is True
    assert report["recommendation_check"]["ok"] is True
    assert shake.tried[-1].tls_legacy_renegotiation  # the verification used the switch
    widened = report["handshakes"][1]
    assert widened["needed"] == [
        {"line": "SOAPGUARD_TLS_LEGACY_RENEGOTIATION=true", "refused": "tls.legacy_renegotiation"}
    ]
    assert "refused without it" in legacy.row_suffix(widened)


def test_probe_recommends_turning_the_switch_off_when_the_peer_does_not_need_it() -> None:
    report, _ = run_probe(lambda c: (True, None, "X"), Config(tls_legacy_renegotiation=True))
    assert report["legacy_peer"]["secure_renegotiation"] is True
    assert lines(report) == ["SOAPGUARD_TLS_LEGACY_RENEGOTIATION=false"]


def test_small_dh_group_without_another_suite_gets_legacy_and_level_1_verified() -> None:
    report, shake = run_probe(small_dh)
    dh = report["legacy_peer"]["dh"]
    assert dh["small_group"]
    assert dh["accepted_at_level_1"]
    assert not dh["without_dhe"]["ok"]
    assert lines(report) == ["SOAPGUARD_TLS_PROFILE=legacy", "SOAPGUARD_TLS_SECURITY_LEVEL=1"]
    assert "80-bit" in report["recommendations"][1]["reason"]
    assert all(r["verified"] for r in report["recommendations"])
    assert shake.tried[-1].tls_security_level == 1
    assert shake.tried[-1].tls_profile == "legacy"


def test_small_dh_group_with_a_suite_without_dhe_keeps_level_2() -> None:
    def with_rsa(config: Config) -> tuple[bool, str | None, str | None]:
        if config.ciphers == profiles.LEGACY_WITHOUT_DHE:
            return True, None, "AES128-SHA"
        return small_dh(config)

    report, _ = run_probe(with_rsa)
    assert f"SOAPGUARD_CIPHERS={profiles.LEGACY_WITHOUT_DHE}" in lines(report)
    assert not [line for line in lines(report) if "SECURITY_LEVEL" in line]
    ciphers = next(r for r in report["recommendations"] if r["variable"] == "SOAPGUARD_CIPHERS")
    assert "AES128-SHA" in ciphers["reason"]
    assert report["recommendation_check"]["ok"] is True


def test_a_recommendation_the_verifying_handshake_refutes_is_a_problem() -> None:
    def always_small(config: Config) -> tuple[bool, str | None, str | None]:
        if config.tls_profile == "legacy" and config.tls_security_level == 1:
            return (True, None, "DHE-RSA-AES128-GCM-SHA256") if config.ciphers is None else (
                False, "tls.dh_key_too_small", None
            )  # fmt: skip
        return small_dh(config)

    report, _ = run_probe(always_small, Config(ciphers="DHE-RSA-AES128-GCM-SHA256"))
    assert report["recommendation_check"]["ok"] is False
    assert any("still fail a handshake" in p for p in report["problems"])
    assert not any(r.get("verified") for r in report["recommendations"])


@pytest.mark.parametrize(
    ("fetched", "calls", "verdict"),
    [
        ({"ok": False, "alert_out": [1, 100], "tls_version": None}, {}, "requested"),
        ({"ok": True, "alert_out": None, "tls_version": "1.2"}, {}, "not_requested"),
        ({"ok": True, "alert_out": None, "tls_version": "1.3"}, {}, "not_applicable"),
        (
            {"ok": True, "alert_out": None, "tls_version": "1.2"},
            {"candidates": [{"failures": {"tls.renegotiation_refused": 2}}]},
            "requested",
        ),
        (None, {}, None),
    ],
)
def test_server_renegotiation_verdict(
    fetched: dict[str, Any] | None, calls: dict[str, Any], verdict: str | None
) -> None:
    report = {"record_size": {"uncapped": fetched} if fetched else None, "calls": calls}
    assert legacy.server_renegotiation(report) == verdict
    found = legacy.problems({"legacy_peer": {"server_renegotiation": verdict}})
    assert bool(found) is (verdict == "requested")


def test_probe_calls_count_the_clients_own_verdict() -> None:
    from soapguard.cli.probe.calls import _failure_type

    error = rex.SSLError("sslv3 alert handshake failure")
    error.report = {"error.type": "tls.renegotiation_refused"}  # type: ignore[attr-defined]
    assert _failure_type(error) == "tls.renegotiation_refused"
    assert _failure_type(handshake_failure_alert()) == "tls.handshake_failure"
