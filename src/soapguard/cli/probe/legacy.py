"""Old peers under OpenSSL 3, for ``soapguard probe``: refusals that one switch decides.

OpenSSL 3 refuses two things old TLS stacks still do: a handshake without RFC 5746
secure renegotiation (``tls.legacy_renegotiation``) and a DHE group under 2048 bits at
security level 2 (``tls.dh_key_too_small``).  Each has a switch, and each switch
trades something away, so the probe recommends one only after seeing it needed:

* :meth:`Checks.widen` retries a version or profile variant refused for one of those
  reasons with exactly the switch that fixes it (the row records which), so the rows
  still show what else the peer accepts;
* :meth:`Checks.findings` says whether the peer has secure renegotiation, whether its
  DH group is small and whether it also has a suite without DHE (which keeps level 2,
  so it is preferred), and whether the server asked to renegotiate during the probe's
  GET (the client declines it with a ``no_renegotiation`` alert);
* :func:`recommend`, :func:`problems` and :func:`notes` turn the findings into lines
  and text (pure, over the JSON-ready report);
* :meth:`Checks.verify` applies every recommended TLS line together to the current
  settings and makes one real handshake with them: a recommendation is shown as
  verified only when that handshake succeeded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...classify import rules
from ...config import _VARS, Config, env_name
from ...diagnostics.hints import LEVEL_1_TRADE_OFF, RENEGOTIATION_TRADE_OFF
from ...tls.profiles import LEGACY_WITHOUT_DHE

Row = dict[str, Any]
Handshake = Callable[[Config], Row]
Add = Callable[[str, str, str], None]

RENEGOTIATION = "tls.legacy_renegotiation"
DH_TOO_SMALL = "tls.dh_key_too_small"
#: the alert a client sends when it declines a renegotiation, as the report's JSON keeps it
NO_RENEGOTIATION_ALERT = list(rules.NO_RENEGOTIATION_ALERT)
#: the settings one real handshake can verify (others, like a CA path, are the user's)
TLS_FIELDS = (
    "tls_profile", "tls_min_version", "tls_max_version", "tls_security_level",
    "tls_legacy_renegotiation", "ciphers",
)  # fmt: skip
_FIELD_OF = {env_name(name): name for name in TLS_FIELDS}


def _error_type(row: Mapping[str, Any]) -> str | None:
    return (row.get("error") or {}).get("error.type")


def _refused(rows: Sequence[Mapping[str, Any]], kind: str) -> bool:
    """Whether any handshake was refused with ``kind``, before or after widening."""
    return any(
        _error_type(row) == kind or any(n["refused"] == kind for n in row.get("needed", ()))
        for row in rows
    )


class Checks:
    """The old-peer checks of one probe run; ``handshake`` makes one real handshake."""

    def __init__(self, config: Config, handshake: Handshake) -> None:
        self.config = config
        self.handshake = handshake
        #: the first variant refused for its DH group at level 2, before widening
        self._dh_refused: Config | None = None

    def widen(self, row: Row, variant: Config | str) -> tuple[Row, Config | str]:
        """``row`` again with the switch its refusal names, at most twice (a peer may lack
        secure renegotiation *and* have a small DH group); the variant finally used."""
        needed: list[dict[str, str]] = []
        for _ in range(2):
            if row["ok"] or not isinstance(variant, Config):
                break
            refused = _error_type(row)
            if refused == RENEGOTIATION and not variant.tls_legacy_renegotiation:
                change: dict[str, Any] = {"tls_legacy_renegotiation": True}
                line = "SOAPGUARD_TLS_LEGACY_RENEGOTIATION=true"
            elif refused == DH_TOO_SMALL and variant.tls_security_level == 2:
                self._dh_refused = self._dh_refused or variant
                change, line = {"tls_security_level": 1}, "SOAPGUARD_TLS_SECURITY_LEVEL=1"
            else:
                break
            try:
                variant = dataclasses.replace(variant, **change)
            except ValueError:  # the configuration rules refuse it (level 1 needs legacy)
                break
            needed.append({"line": line, "refused": refused})
            row = self.handshake(variant)
        if needed:
            row = {**row, "needed": needed}
        return row, variant

    def findings(self, report: Mapping[str, Any]) -> dict[str, Any]:
        """What the handshakes (and a few more) say about an old peer."""
        rows: list[Mapping[str, Any]] = report.get("handshakes", [])
        current = next((r for r in rows if r["kind"] == "current"), {})
        if _error_type(current) == DH_TOO_SMALL and self.config.tls_security_level == 2:
            self._dh_refused = self._dh_refused or self.config
        return {
            "secure_renegotiation": self._secure_renegotiation(rows, current),
            "dh": self._dh(rows, current),
            "server_renegotiation": server_renegotiation(report),
        }

    def _secure_renegotiation(
        self, rows: Sequence[Mapping[str, Any]], current: Mapping[str, Any]
    ) -> bool | None:
        if _refused(rows, RENEGOTIATION):
            return False
        if not any(r["ok"] for r in rows):
            return None  # no handshake got far enough to tell
        if not self.config.tls_legacy_renegotiation:
            return True  # handshakes succeeded with OpenSSL's refusal in force
        # the switch is on everywhere: only a handshake without it tells
        row = self.handshake(dataclasses.replace(self.config, tls_legacy_renegotiation=False))
        if row["ok"]:
            return True
        return False if _error_type(row) == RENEGOTIATION else None

    def _dh(self, rows: Sequence[Mapping[str, Any]], current: Mapping[str, Any]) -> Row | None:
        base = self._dh_refused
        if base is None and self.config.tls_security_level == 1 and current.get("ok"):
            # is level 1 needed at all?  Only a handshake at level 2 tells
            at_2 = dataclasses.replace(self.config, tls_security_level=2)
            if self.handshake(at_2)["ok"]:
                return {"small_group": False, "level_1_needed": False}
            base = at_2
        if base is None:
            return None
        accepted = [r for r in rows if r["ok"] and any(
            n["refused"] == DH_TOO_SMALL for n in r.get("needed", ())
        )]  # fmt: skip
        if self.config.tls_security_level == 1 and current.get("ok"):
            accepted.append(current)
        still_refused = any(
            _error_type(r) == DH_TOO_SMALL and r.get("needed") for r in rows
        )  # refused at level 1 as well
        without = self.handshake(dataclasses.replace(base, ciphers=LEGACY_WITHOUT_DHE))
        return {
            "small_group": True,
            "level_1_needed": not without["ok"],
            "accepted_at_level_1": bool(accepted),
            "refused_at_level_1": still_refused and not accepted,
            "cipher_at_level_1": accepted[0].get("cipher") if accepted else None,
            "without_dhe": {k: without.get(k) for k in ("ok", "tls_version", "cipher", "error")},
        }

    def verify(self, recommendations: list[dict[str, Any]]) -> Row | None:
        """One handshake with every recommended TLS line applied to the current settings;
        marks those recommendations ``verified``.  ``None`` when none is a TLS line."""
        changes: dict[str, Any] = {}
        mine = [r for r in recommendations if r["variable"] in _FIELD_OF]
        for rec in mine:
            field = _FIELD_OF[rec["variable"]]
            changes[field] = _VARS[field].parse(rec["value"])
        if not changes:
            return None
        try:
            row = self.handshake(dataclasses.replace(self.config, **changes))
        except ValueError as exc:  # recommendations that do not fit together: say so
            row = {"ok": False, "error": {"error.type": "config", "error.message": str(exc)}}
        for rec in mine:
            rec["verified"] = bool(row["ok"])
        keys = ("ok", "tls_version", "cipher", "error")
        return {"lines": [r["line"] for r in mine], **{k: row.get(k) for k in keys}}


def server_renegotiation(report: Mapping[str, Any]) -> str | None:
    """``requested`` when the client declined a renegotiation during the probe's GET or
    calls, ``not_requested`` after a complete GET over TLS 1.2 or older, ``not_applicable``
    over TLS 1.3 (it has no renegotiation), ``None`` when nothing was fetched."""
    record = report.get("record_size") or {}
    fetches = [f for f in (record.get("uncapped"), record.get("capped")) if f]
    calls = (report.get("calls") or {}).get("candidates", ())
    if any(f.get("alert_out") == NO_RENEGOTIATION_ALERT for f in fetches) or any(
        "tls.renegotiation_refused" in c["failures"] for c in calls
    ):
        return "requested"
    done = [f for f in fetches if f.get("ok")]
    if not done:
        return None
    return "not_applicable" if done[0].get("tls_version") == "1.3" else "not_requested"


def _found(report: Mapping[str, Any]) -> Mapping[str, Any]:
    return report.get("legacy_peer") or {}


def recommend(report: Mapping[str, Any], settings: Mapping[str, Any], add: Add) -> None:
    """The lines an old peer needs (or no longer needs), each with what it trades away."""
    found = _found(report)
    renegotiation = found.get("secure_renegotiation")
    switched_on = settings.get("tls_legacy_renegotiation")
    if renegotiation is False and not switched_on:
        add(
            "SOAPGUARD_TLS_LEGACY_RENEGOTIATION",
            "true",
            "the server lacks RFC 5746 secure renegotiation (OpenSSL 3 refuses it: "
            f"UNSAFE_LEGACY_RENEGOTIATION_DISABLED); {RENEGOTIATION_TRADE_OFF}",
        )
    elif renegotiation is True and switched_on:
        add(
            "SOAPGUARD_TLS_LEGACY_RENEGOTIATION",
            "false",
            "the server supports secure renegotiation, so the switch only adds exposure",
        )
    dh = found.get("dh") or {}
    without = dh.get("without_dhe") or {}
    if dh.get("small_group") and without.get("ok"):
        add(
            "SOAPGUARD_CIPHERS",
            LEGACY_WITHOUT_DHE,
            "the server's DHE group is under 2048 bits, but it also has "
            f"{without.get('cipher')} without DHE: the legacy suites minus DHE keep "
            "security level 2",
        )
        if settings.get("tls_security_level") == 1:
            add("SOAPGUARD_TLS_SECURITY_LEVEL", "2", "no longer needed without DHE")
    elif dh.get("small_group") and dh.get("accepted_at_level_1"):
        if settings.get("tls_profile") != "legacy":
            add("SOAPGUARD_TLS_PROFILE", "legacy", "security level 1 needs the legacy profile")
        add(
            "SOAPGUARD_TLS_SECURITY_LEVEL",
            "1",
            f"the server's DHE group is under 2048 bits ({dh.get('cipher_at_level_1')} works "
            f"at level 1) and it has no suite without DHE; level 1 accepts {LEVEL_1_TRADE_OFF}",
        )
    elif dh.get("level_1_needed") is False and settings.get("tls_security_level") == 1:
        add("SOAPGUARD_TLS_SECURITY_LEVEL", "2", "a handshake at level 2 works: 1 is not needed")


def problems(report: Mapping[str, Any]) -> list[str]:
    """Old-peer findings that make the probe exit 1."""
    found = _found(report)
    out = []
    if found.get("server_renegotiation") == "requested":
        out.append(
            "the server asked to renegotiate TLS mid-connection (e.g. to request a client "
            "certificate) and soapguard never renegotiates, so such calls fail with "
            "tls.renegotiation_refused: the server must ask for the certificate in the "
            "initial handshake"
        )
    check = report.get("recommendation_check")
    if check is not None and not check["ok"]:
        kind = (check.get("error") or {}).get("error.type") or "unclassified"
        out.append(f"the recommended TLS settings together still fail a handshake ({kind})")
    dh = found.get("dh") or {}
    if dh.get("refused_at_level_1"):
        without = dh.get("without_dhe") or {}
        if not without.get("ok"):
            out.append(
                "the server's DHE group is too small even for security level 1 and it has no "
                "suite without DHE: only the server can fix this (a 2048-bit group or ECDHE)"
            )
    return out


def notes(report: Mapping[str, Any]) -> list[str]:
    """Old-peer observations that are not failures."""
    found = _found(report)
    out = []
    settings = report.get("settings") or {}
    if found.get("secure_renegotiation") is False and settings.get("tls_legacy_renegotiation"):
        out.append(
            "the server lacks RFC 5746 secure renegotiation: SOAPGUARD_TLS_LEGACY_RENEGOTIATION"
            f"=true is needed for it; {RENEGOTIATION_TRADE_OFF}"
        )
    return out


def row_suffix(row: Mapping[str, Any]) -> str:
    """What a widened handshake row needed, for people."""
    needed = row.get("needed") or ()
    if not needed:
        return ""
    parts = [f"{n['line']} (refused without it: {n['refused']})" for n in needed]
    return "  with " + ", ".join(parts)


def render(report: Mapping[str, Any]) -> None:
    """The old-peer section of the human output."""
    found = _found(report)
    if not found:
        return
    secure = {True: "supported", False: "NOT supported", None: "not observed"}
    print("\nOld-peer checks:")
    print(f"  secure renegotiation (RFC 5746): {secure[found.get('secure_renegotiation')]}")
    dh = found.get("dh")
    if dh is None:
        print("  DHE group: no small group met")
    elif not dh.get("small_group"):
        print("  DHE group: accepted at security level 2")
    else:
        without = dh.get("without_dhe") or {}
        other = f"yes ({without.get('cipher')})" if without.get("ok") else "no"
        print(f"  DHE group: under 2048 bits; suite without DHE: {other}")
    asked = found.get("server_renegotiation") or "not observed (nothing fetched)"
    print(f"  server-initiated renegotiation during the GET: {asked.replace('_', ' ')}")
    check = report.get("recommendation_check")
    if check:
        verdict = (
            f"a handshake with them works (TLS {check['tls_version']}, {check['cipher']})"
            if check["ok"]
            else "a handshake with them FAILED "
            f"({(check['error'] or {}).get('error.type') or 'unclassified'})"
        )
        print(f"  recommended TLS lines together: {verdict}")
