"""What ``soapguard probe`` concludes from its measurements: verdicts, problems, advice.

Pure functions over the probe's JSON-ready report, so each rule can be tested
on recorded measurements: whether the server honours max_fragment_length, which
findings are problems (exit 1), and which ``SOAPGUARD_*`` lines to recommend,
each with a one-line reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ...config import _VARS, env_name
from ...retry.rules import TRANSIENT_TYPES
from ...tls.profiles import RECORD_OVERHEAD
from .._failure import headline
from .._origin import value_text
from . import legacy as old_peer

#: a response smaller than this cannot show whether records are capped
MIN_CONCLUSIVE_BYTES = 1024
#: failures that smaller TLS records can plausibly cure
TRANSIENT = TRANSIENT_TYPES - {"timeout.read"}
#: OpenSSL verify codes meaning "no trusted issuer" (a CA bundle fixes these)
UNTRUSTED = frozenset({2, 19, 20, 21})
#: variable -> Config field, for the settings the probe reports
_FIELDS = {env_name(name): name for name in _VARS}
#: share of the server's measured idle limit recommended for SOAPGUARD_POOL_IDLE_TIMEOUT
IDLE_MARGIN = 0.8


def mfl_verdict(
    cap: int, uncapped: Mapping[str, Any] | None, capped: Mapping[str, Any]
) -> tuple[str, str]:
    """``(verdict, detail)``: honoured, not_honoured, inconclusive, refused or unknown."""
    limit = cap + RECORD_OVERHEAD
    if uncapped is not None and not uncapped.get("ok"):
        return "unknown", "the GET failed even without the cap"
    if not capped.get("ok"):
        kind = (capped.get("error") or {}).get("error.type", "an error")
        return "refused", f"asking for max_fragment_length={cap} made the request fail ({kind})"
    if capped.get("caps_applied") is False:
        return "unknown", "this interpreter cannot request max_fragment_length"
    largest = capped.get("largest_record_in")
    acknowledged = capped.get("negotiated_mfl") == cap
    if largest is not None and largest > limit:
        told = "acknowledged it but " if acknowledged else ""
        return "not_honoured", (
            f"the server {told}sent records of up to {largest} bytes although {cap} were requested"
        )
    if capped.get("bytes_in", 0) < MIN_CONCLUSIVE_BYTES:
        said = "acknowledged" if acknowledged else "did not acknowledge"
        return "inconclusive", (
            f"the response ({capped.get('bytes_in', 0)} bytes) is too small to tell; "
            f"the server {said} the extension"
        )
    if acknowledged:
        shown = f"largest record {largest} bytes" if largest is not None else "acknowledged"
        return "honoured", f"{shown} with max_fragment_length={cap}"
    if largest is None:
        return "not_honoured", "the server did not acknowledge max_fragment_length"
    before = (uncapped or {}).get("largest_record_in")
    if before is not None and before > limit:
        return "honoured", (
            f"not acknowledged, but records shrank from {before} to {largest} bytes when asked"
        )
    return "inconclusive", (
        "the server did not acknowledge the extension and sends small records anyway"
    )


def _rows(report: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(row["kind"], row["name"]): row for row in report.get("handshakes", ())}


def _ok(rows: Mapping[tuple[str, str], Mapping[str, Any]], kind: str, name: str) -> bool:
    row = rows.get((kind, name))
    return bool(row and row["ok"])


def problems(report: Mapping[str, Any]) -> list[str]:
    """Findings that make the probe exit 1."""
    found: list[str] = []
    rows = _rows(report)
    current = rows.get(("current", "current"))
    if current is not None and not current["ok"]:
        kind = _error_type(current)
        if kind != "tls.certificate":  # reported with the certificate below
            found.append("the current settings cannot connect" + (f" ({kind})" if kind else ""))
        profile = (report.get("settings") or {}).get("tls_profile", "intermediate")
        if profile != "intermediate" and _default_fails(rows):  # neither works
            found.append("the intermediate profile (the default) cannot connect either")
    cert = report.get("certificate") or {}
    if cert.get("error"):
        why = cert["error"].get("verify_message") or cert["error"].get("error.message")
        found.append(f"the certificate is not valid: {why}")
    elif cert.get("hostname_match") is False:
        found.append("the certificate does not match the host name")
    found.extend(_call_problems(report.get("calls") or {}))
    found.extend(old_peer.problems(report))
    found.extend(f"probe incomplete: {why}" for why in report.get("incomplete", ()))
    return found


def _error_type(row: Mapping[str, Any]) -> str | None:
    return (row.get("error") or {}).get("error.type")


def _default_fails(rows: Mapping[tuple[str, str], Mapping[str, Any]]) -> bool:
    return ("profile", "intermediate") in rows and not _ok(rows, "profile", "intermediate")


def _call_problems(calls: Mapping[str, Any]) -> list[str]:
    """A WSDL that did not load is the problem (no call was made); else failed calls."""
    for cand in calls.get("candidates", ())[:1]:
        setup = cand.get("setup_error")
        if setup:
            return [
                "the WSDL could not be loaded with the current settings, so no call was "
                f"made: {headline(setup)}"
            ]
        failed = sum(cand["failures"].values())
        if failed:
            return [f"{failed} of {cand['calls']} calls failed with the current settings"]
    return []


def _default_profile_note(report: Mapping[str, Any]) -> list[str]:
    """The settings in effect connect but the default profile does not: worth knowing
    (a client built without them would fail), not a problem of these settings."""
    rows = _rows(report)
    if not _ok(rows, "current", "current") or not _default_fails(rows):
        return []
    default = rows[("profile", "intermediate")]
    kind = _error_type(default)
    env = (report.get("environment") or {}).get("from_env", ())
    tls = [f"{r['variable']}={value_text(r['value'])}" for r in env if _is_tls(r["variable"])]
    keep = f": keep {', '.join(tls)} (from the environment)" if tls else ""
    return [
        "the intermediate profile (the default) cannot connect"
        + (f" ({kind})" if kind else "")
        + f"; the settings in effect can{keep}"
    ]


def _is_tls(variable: str) -> bool:
    return variable.startswith(("SOAPGUARD_TLS", "SOAPGUARD_CIPHERS"))


def notes(report: Mapping[str, Any]) -> list[str]:
    """Observations worth knowing that are not failures."""
    out = _default_profile_note(report)  # certificates that expire soon: see .identity
    record = report.get("record_size") or {}
    if record.get("verdict") == "not_honoured":
        out.append(
            "the server ignores max_fragment_length: SOAPGUARD_MAX_RECORD_SIZE caps only "
            "what soapguard sends to it"
        )
    out.extend(old_peer.notes(report))
    return out + _idle_notes(report)


def recommend(report: Mapping[str, Any], settings: Mapping[str, Any]) -> list[dict[str, str]]:
    """The ``SOAPGUARD_*`` lines to set, each with a reason, most important first."""
    recs: dict[str, dict[str, str]] = {}

    def add(name: str, value: str, reason: str) -> None:
        recs.setdefault(
            name, {"variable": name, "value": value, "line": f"{name}={value}", "reason": reason}
        )

    rows = _rows(report)
    profile = settings.get("tls_profile", "intermediate")
    if not _ok(rows, "current", "current"):
        legacy = rows.get(("profile", "legacy"))
        if _ok(rows, "profile", "intermediate") and profile == "modern":
            add("SOAPGUARD_TLS_PROFILE", "intermediate", "the server does not speak TLS 1.3")
        elif legacy and legacy["ok"] and not _ok(rows, "profile", "intermediate"):
            add(
                "SOAPGUARD_TLS_PROFILE",
                "legacy",
                "only the legacy profile's suites work "
                f"(TLS {legacy.get('tls_version')}, {legacy.get('cipher')})",
            )
        elif not any(_ok(rows, "profile", p) for p in ("modern", "intermediate", "legacy")):
            old = next((v for v in ("1.1", "1.0") if _ok(rows, "version", v)), None)
            if old is not None:
                add("SOAPGUARD_TLS_PROFILE", "legacy", f"needed for TLS {old}")
                add(
                    "SOAPGUARD_TLS_MIN_VERSION",
                    old,
                    f"the server speaks nothing newer than TLS {old} (deprecated: plan "
                    "an upgrade of the server)",
                )
                add("SOAPGUARD_TLS_SECURITY_LEVEL", "0", f"OpenSSL 3 needs it for TLS {old}")
    elif settings.get("tls_min_version") in ("1.0", "1.1") and _ok(rows, "version", "1.2"):
        add(
            "SOAPGUARD_TLS_MIN_VERSION",
            "1.2",
            "the server speaks TLS 1.2: older versions need not be allowed",
        )
        add("SOAPGUARD_TLS_SECURITY_LEVEL", "2", "level 0 is only for TLS 1.0/1.1")
    cert = report.get("certificate") or {}
    error = cert.get("error") or {}
    if error and cert.get("verify_code") in UNTRUSTED:
        chain = cert.get("chain") or [{}]
        issuer = chain[-1].get("issuer") or "its issuer"
        add(
            "SOAPGUARD_CA_BUNDLE",
            "/path/to/issuing-ca.pem",
            f"the chain is not trusted by {cert.get('trust_store') or 'the current store'}; "
            f"trust the CA that issued it ({issuer})",
        )
    old_peer.recommend(report, settings, add)
    _call_advice(report.get("calls") or {}, settings, add)
    _idle_advice(report.get("idle") or {}, settings, add)
    return [rec for rec in recs.values() if not _in_effect(rec, settings)]


def _in_effect(rec: Mapping[str, str], settings: Mapping[str, Any]) -> bool:
    """Whether ``rec`` sets what is already in effect: then it is no change to make."""
    field = _FIELDS.get(rec["variable"])
    if field is None or field not in settings:
        return False
    try:
        return bool(_VARS[field].parse(rec["value"]) == settings[field])
    except ValueError:
        return False


def idle_timeout_for(closed_after_s: float) -> float:
    """SOAPGUARD_POOL_IDLE_TIMEOUT for a server that closes idle connections after
    ``closed_after_s`` seconds: well under it (whole seconds from 10 s, else tenths)."""
    value = closed_after_s * IDLE_MARGIN
    if value >= 10:
        return float(math.floor(value))
    return max(0.1, math.floor(value * 10) / 10)


def _idle_advice(idle: Mapping[str, Any], settings: Mapping[str, Any], add: Any) -> None:
    closed = idle.get("closed_after_s")
    if closed is None:
        return
    value, now = idle_timeout_for(closed), settings.get("pool_idle_timeout")
    if now is None or now > value:
        shown = f"{now:g} s" if isinstance(now, int | float) else "unset"
        add(
            "SOAPGUARD_POOL_IDLE_TIMEOUT",
            f"{value:g}",
            f"the server closed an idle connection after {closed:g} s: a pooled connection "
            f"must be closed before that, or its next request meets a reset (now {shown})",
        )


def _idle_notes(report: Mapping[str, Any]) -> list[str]:
    idle = report.get("idle") or {}
    now = (report.get("settings") or {}).get("pool_idle_timeout")
    if not idle.get("measured") or idle.get("closed_after_s") is not None:
        return []
    waited = idle.get("waited_s") or 0
    text = f"the server kept an idle connection open for at least {waited:g} s"
    if isinstance(now, int | float) and now >= waited:
        text += f", too short to show that SOAPGUARD_POOL_IDLE_TIMEOUT={now:g} is safe"
    return [text]


def _transient(candidate: Mapping[str, Any]) -> int:
    return sum(n for kind, n in candidate["failures"].items() if kind in TRANSIENT)


def _call_advice(calls: Mapping[str, Any], settings: Mapping[str, Any], add: Any) -> None:
    candidates: Sequence[Mapping[str, Any]] = calls.get("candidates", ())
    if not candidates or candidates[0]["name"] != "current":
        return
    current = candidates[0]
    best_transient = now = _transient(current)
    caps = [c for c in candidates[1:] if set(c["settings"]) == {"max_record_size"}]
    if now and caps:
        best = min(caps, key=lambda c: (_transient(c), -c["settings"]["max_record_size"]))
        if _transient(best) < now:
            best_transient = _transient(best)
            size = best["settings"]["max_record_size"]
            add(
                "SOAPGUARD_MAX_RECORD_SIZE",
                str(size),
                f"{now}/{current['calls']} calls failed transiently without it, "
                f"{best_transient}/{best['calls']} with it",
            )
    failed_now = sum(current["failures"].values())
    for cand in candidates[1:]:
        if set(cand["settings"]) == {"tls_profile"} and cand["calls"]:
            failed = sum(cand["failures"].values())
            if failed_now and failed < failed_now:
                add(
                    "SOAPGUARD_TLS_PROFILE",
                    cand["settings"]["tls_profile"],
                    f"{failed_now}/{current['calls']} calls failed with the current profile, "
                    f"{failed}/{cand['calls']} with it",
                )
    operation = calls.get("operation")
    if best_transient and operation and not calls.get("idempotent"):
        existing = list(settings.get("idempotent_operations") or ())
        add(
            "SOAPGUARD_IDEMPOTENT_OPERATIONS",
            ",".join([*existing, operation]),
            f"ONLY if {operation} is safe to repeat (a read): its transient failures would "
            "then be retried on a fresh connection",
        )
