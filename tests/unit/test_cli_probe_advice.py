"""``soapguard probe`` conclusions, rule by rule, on recorded measurements.

Live servers are in test_cli_probe.py (OpenSSL, which always honours
max_fragment_length) and test_cli_probe_java.py (a JSSE server that ignores it);
here every branch of each rule is checked on recorded measurements.
"""

from __future__ import annotations

from typing import Any

import pytest

from soapguard import Config
from soapguard.cli.probe.advice import mfl_verdict, notes, problems, recommend
from soapguard.cli.probe.calls import candidates
from soapguard.cli.probe.cert import hostname_check, name_matches


def fetched(**kw: Any) -> dict[str, Any]:
    base = {
        "ok": True,
        "caps_applied": True,
        "bytes_in": 7000,
        "largest_record_in": 7000,
        "negotiated_mfl": None,
        "error": None,
    }
    return {**base, **kw}


UNCAPPED = fetched()


@pytest.mark.parametrize(
    ("capped", "verdict"),
    [
        (fetched(largest_record_in=536, negotiated_mfl=512), "honoured"),
        (fetched(largest_record_in=7000), "not_honoured"),  # ignored the extension
        (fetched(largest_record_in=7000, negotiated_mfl=512), "not_honoured"),
        (fetched(largest_record_in=None, negotiated_mfl=None), "not_honoured"),  # no tracer
        (fetched(largest_record_in=None, negotiated_mfl=512), "honoured"),
        (fetched(bytes_in=600, largest_record_in=600, negotiated_mfl=512), "inconclusive"),
        (fetched(largest_record_in=500), "honoured"),  # shrank without acknowledging
        (fetched(ok=False, error={"error.type": "connection.reset"}), "refused"),
        (fetched(caps_applied=False), "unknown"),
    ],
)
def test_mfl_verdict(capped: dict[str, Any], verdict: str) -> None:
    assert mfl_verdict(512, UNCAPPED, capped)[0] == verdict


def test_small_records_anyway_are_inconclusive() -> None:
    small = fetched(largest_record_in=400)
    verdict, detail = mfl_verdict(512, small, small)
    assert verdict == "inconclusive"
    assert "small records anyway" in detail


def test_failed_uncapped_get_makes_the_verdict_unknown() -> None:
    broken = fetched(ok=False, error={"error.type": "timeout.read"})
    assert mfl_verdict(512, broken, broken)[0] == "unknown"


def test_not_honoured_is_a_note_not_a_problem() -> None:
    report = {"record_size": {"verdict": "not_honoured"}, "handshakes": []}
    assert problems(report) == []
    assert "ignores max_fragment_length" in notes(report)[0]


def row(kind: str, name: str, ok: bool, **kw: Any) -> dict[str, Any]:
    return {"kind": kind, "name": name, "ok": ok, **kw}


def handshakes(**ok: bool) -> list[dict[str, Any]]:
    """Rows for current, versions and profiles; ``ok`` maps e.g. v1_2/legacy to success."""
    out = [row("current", "current", ok.get("current", False))]
    out += [
        row("version", v, ok.get("v" + v.replace(".", "_"), False))
        for v in ("1.0", "1.1", "1.2", "1.3")
    ]
    out += [
        row("profile", p, ok.get(p, False), tls_version="1.2", cipher="AES128-SHA")
        for p in ("modern", "intermediate", "legacy")
    ]
    return out


def lines(report: dict[str, Any], **settings: Any) -> list[str]:
    return [rec["line"] for rec in recommend(report, {"tls_profile": "intermediate", **settings})]


def test_only_legacy_works() -> None:
    report = {"handshakes": handshakes(v1_2=True, legacy=True)}
    assert lines(report) == ["SOAPGUARD_TLS_PROFILE=legacy"]
    # the current settings are the default profile: one problem, not the same one twice
    assert problems(report) == ["the current settings cannot connect"]


def test_the_default_profile_failing_is_a_note_once_the_current_settings_work() -> None:
    rows = handshakes(current=True, v1_2=True, legacy=True)
    rows[6]["error"] = {"error.type": "tls.no_shared_cipher"}
    from_env = [{"variable": "SOAPGUARD_TLS_PROFILE", "value": "legacy"},
                {"variable": "SOAPGUARD_MAX_ATTEMPTS", "value": 2}]  # fmt: skip
    report = {
        "handshakes": rows,
        "settings": {"tls_profile": "legacy"},
        "environment": {"from_env": from_env, "ignored_env": []},
    }
    assert problems(report) == []
    assert notes(report) == [
        "the intermediate profile (the default) cannot connect (tls.no_shared_cipher); the "
        "settings in effect can: keep SOAPGUARD_TLS_PROFILE=legacy (from the environment)"
    ]


def test_neither_the_current_settings_nor_the_default_profile_work() -> None:
    report = {"handshakes": handshakes(v1_2=True), "settings": {"tls_profile": "legacy"}}
    assert problems(report) == [
        "the current settings cannot connect",
        "the intermediate profile (the default) cannot connect either",
    ]
    assert notes(report) == []


def test_only_tls10_works() -> None:
    report = {"handshakes": handshakes(v1_0=True)}
    assert lines(report) == [
        "SOAPGUARD_TLS_PROFILE=legacy",
        "SOAPGUARD_TLS_MIN_VERSION=1.0",
        "SOAPGUARD_TLS_SECURITY_LEVEL=0",
    ]


def test_modern_against_a_tls12_server() -> None:
    report = {"handshakes": handshakes(v1_2=True, intermediate=True, legacy=True)}
    assert lines(report, tls_profile="modern") == ["SOAPGUARD_TLS_PROFILE=intermediate"]


def test_an_old_minimum_is_tightened_when_12_works() -> None:
    report = {"handshakes": handshakes(current=True, v1_2=True, intermediate=True)}
    assert lines(report, tls_min_version="1.0") == [
        "SOAPGUARD_TLS_MIN_VERSION=1.2",
        "SOAPGUARD_TLS_SECURITY_LEVEL=2",
    ]
    assert lines(report) == []


@pytest.mark.parametrize(("code", "wanted"), [(20, True), (19, True), (62, False), (10, False)])
def test_ca_bundle_only_for_an_untrusted_chain(code: int, wanted: bool) -> None:
    report = {
        "handshakes": handshakes(current=True, intermediate=True),
        "certificate": {
            "error": {"error.type": "tls.certificate"},
            "verify_code": code,
            "chain": [{"issuer": "CN=Corp CA"}],
            "trust_store": "the system store",
        },
    }
    recs = recommend(report, {"tls_profile": "intermediate"})
    assert any(r["variable"] == "SOAPGUARD_CA_BUNDLE" for r in recs) is wanted
    if wanted:
        assert "CN=Corp CA" in recs[0]["reason"]


def calls_report(current: dict[str, int], **others: dict[str, int]) -> dict[str, Any]:
    def cand(name: str, failures: dict[str, int], **settings: Any) -> dict[str, Any]:
        return {
            "name": name,
            "calls": 20,
            "ok": 20 - sum(failures.values()),
            "failures": failures,
            "settings": settings,
        }

    cands = [cand("current", current)]
    cands += [
        cand(f"record cap {size}", others.get(f"cap{size}", {}), max_record_size=size)
        for size in (4096, 1024)
    ]
    if "legacy" in others:
        cands.append(cand("profile legacy", others["legacy"], tls_profile="legacy"))
    return {
        "handshakes": handshakes(current=True, intermediate=True),
        "calls": {"operation": "GetBalance", "idempotent": False, "candidates": cands},
    }


def test_record_cap_recommended_when_it_cures_bad_record_macs() -> None:
    report = calls_report({"tls.bad_record_mac": 6}, cap4096={}, cap1024={})
    recs = recommend(report, {"tls_profile": "intermediate"})
    assert [r["line"] for r in recs] == ["SOAPGUARD_MAX_RECORD_SIZE=4096"]  # larger cap on a tie
    assert recs[0]["reason"] == "6/20 calls failed transiently without it, 0/20 with it"
    assert "6 of 20 calls failed with the current settings" in problems(report)


def test_smaller_cap_when_only_it_helps_and_idempotency_when_failures_remain() -> None:
    report = calls_report(
        {"tls.bad_record_mac": 6},
        cap4096={"tls.bad_record_mac": 5},
        cap1024={"connection.reset": 1},
    )
    assert lines(report, idempotent_operations=["Find*"]) == [
        "SOAPGUARD_MAX_RECORD_SIZE=1024",
        "SOAPGUARD_IDEMPOTENT_OPERATIONS=Find*,GetBalance",
    ]


def test_no_cap_for_failures_records_cannot_cure() -> None:
    report = calls_report({"http.status": 3, "soap.fault": 1}, cap4096={}, cap1024={})
    assert lines(report) == []


def test_profile_recommended_when_its_calls_fail_less() -> None:
    report = calls_report(
        {"tls.handshake_failure": 20},
        cap4096={"tls.handshake_failure": 20},
        cap1024={"tls.handshake_failure": 20},
        legacy={},
    )
    assert lines(report) == ["SOAPGUARD_TLS_PROFILE=legacy"]


@pytest.mark.parametrize(
    ("host", "names", "match"),
    [
        ("svc.example.com", ["svc.example.com"], True),
        ("SVC.example.com.", ["svc.example.com"], True),
        ("svc.example.com", ["*.example.com"], True),
        ("a.svc.example.com", ["*.example.com"], False),
        ("example.com", ["*.example.com"], False),
        ("svc.example.com", ["s*.example.com"], False),
        ("127.0.0.1", ["127.0.0.1"], True),
        ("127.0.0.1", ["localhost"], False),
        ("::1", ["0:0:0:0:0:0:0:1"], True),
    ],
)
def test_name_matching(host: str, names: list[str], match: bool) -> None:
    assert name_matches(host, names) is match


def test_hostname_check_trusts_openssls_mismatch_verdict() -> None:
    chain = [{"names": ["svc.example.com"]}]
    assert hostname_check("svc.example.com", 64, chain) is False
    assert hostname_check("svc.example.com", 20, chain) is True
    assert hostname_check("svc.example.com", None, []) is None


@pytest.mark.parametrize(
    ("current", "tried"),
    [(None, [4096, 2048]), (4096, [2048, 1024]), (2048, [1024, 512]), (1024, [512]), (512, [])],
)
def test_call_candidates_only_try_caps_below_the_current_one(
    current: int | None, tried: list[int]
) -> None:
    base = Config(max_record_size=current)
    names = [c.name for c in candidates(base, [], timeout=1.0)]
    assert names == ["current", *(f"record cap {size}" for size in tried)]


def test_a_line_already_in_effect_is_not_recommended() -> None:
    """The current settings fail for another reason; legacy is what they already use."""
    report = {"handshakes": handshakes(v1_2=True, legacy=True)}
    assert lines(report, tls_profile="legacy") == []
    assert lines(report, tls_profile="intermediate") == ["SOAPGUARD_TLS_PROFILE=legacy"]
