"""Identity checks of ``soapguard probe``: pins, expiry and the client certificate.

* every certificate of the peer's chain gets its SPKI pin (measured in
  :mod:`.cert`), ready to paste into ``SOAPGUARD_PINNED_KEYS``;
* configured pins are compared with the *verified* chain, as the client does;
* certificates that expire within ``SOAPGUARD_CERT_EXPIRY_WARNING`` days are noted;
* the configured client certificate is loaded exactly as a client would load it
  (PEM or PKCS#12), and its problems are reported by variable.

:func:`check` measures (it reads the client certificate files); :func:`problems`,
:func:`notes` and :func:`render` are pure functions of its result.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from typing import Any

from ...config import Config
from ...errors import ConfigError
from ...tls import material

__all__ = ["check", "notes", "problems", "render"]


def check(
    config: Config, certificate: Mapping[str, Any], now: float | None = None
) -> dict[str, Any]:
    """The ``identity`` section of the probe report."""
    current = time.time() if now is None else now
    chain = list(certificate.get("chain") or ())
    verified = bool(certificate.get("verified")) and not certificate.get("chain_read_unverified")
    return {
        "expiry_warning_days": config.cert_expiry_warning,
        "chain_pins": [item.get("spki_pin") for item in chain],
        "pins": _pins(config.pinned_keys, chain, verified),
        "expiring": [
            {"index": n, "subject": item.get("subject"), "days_left": item["days_left"]}
            for n, item in enumerate(chain)
            if isinstance(item.get("days_left"), int)
            and 0 <= item["days_left"] < config.cert_expiry_warning  # expired: a problem above
        ],
        "client_certificate": _client(config, current),
    }


def _pins(
    pinned: tuple[str, ...], chain: list[Mapping[str, Any]], verified: bool
) -> dict[str, Any] | None:
    if not pinned:
        return None
    matched = next((n for n, item in enumerate(chain) if item.get("spki_pin") in pinned), None)
    return {
        "configured": list(pinned),
        "verified_chain": verified,
        "matched_index": matched,
        "ok": verified and matched is not None,
    }


def _client(config: Config, now: float) -> dict[str, Any] | None:
    if config.client_cert is None:
        return None
    scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # the client's loading code, nothing else
    try:
        material.load_client_cert(scratch, config, now=now)
    except ConfigError as exc:
        found = exc.problems or [("client certificate", str(exc))]
        return {"ok": False, "problems": [f"{name}: {msg}" for name, msg in found]}
    info = material.client_certificate(scratch)
    if info is None:  # not expected: loading succeeded
        return {"ok": False, "problems": ["the client certificate could not be read"]}
    return {
        "ok": True,
        "problems": [],
        "subject": info.subject,
        "not_after": info.not_after_text,
        "days_left": info.days_left(now),
        "spki_pin": info.pin,
    }


def problems(identity: Mapping[str, Any]) -> list[str]:
    """Findings that make the probe exit 1."""
    found: list[str] = []
    pins = identity.get("pins")
    if pins is not None and not pins["ok"]:
        if not pins["verified_chain"]:
            found.append(
                "SOAPGUARD_PINNED_KEYS cannot be checked: the certificate chain was not verified "
                "(pins never replace verification)"
            )
        else:
            leaf = (identity.get("chain_pins") or [None])[0]
            found.append(
                f"none of the keys in SOAPGUARD_PINNED_KEYS is in the server's verified chain "
                f"(its certificate presents {leaf}): every call would fail with tls.pin_mismatch"
            )
    client = identity.get("client_certificate")
    if client is not None and not client["ok"]:
        found.extend(f"client certificate: {text}" for text in client["problems"])
    return found


def notes(identity: Mapping[str, Any]) -> list[str]:
    """Certificates that expire within the warning period (not problems yet)."""
    out = []
    for item in identity.get("expiring", ()):
        which = "the server certificate" if item["index"] == 0 else (
            f"chain certificate [{item['index']}] ({item['subject']})"
        )  # fmt: skip
        out.append(f"{which} expires in {item['days_left']} days")
    client = identity.get("client_certificate") or {}
    days = client.get("days_left")
    if isinstance(days, int) and days < identity["expiry_warning_days"]:
        out.append(f"the client certificate (SOAPGUARD_CLIENT_CERT) expires in {days} days")
    return out


def render(identity: Mapping[str, Any]) -> None:
    """Print the identity section for people."""
    pins = [p for p in identity.get("chain_pins", ()) if p]
    if pins:
        print(f"\nPins (for SOAPGUARD_PINNED_KEYS, comma-separated): {','.join(pins)}")
    configured = identity.get("pins")
    if configured is not None:
        index = configured["matched_index"]
        if configured["ok"]:
            print(f"  configured pins: match certificate [{index}] of the verified chain")
        elif not configured["verified_chain"]:
            print("  configured pins: NOT CHECKED (the chain was not verified)")
        else:
            print("  configured pins: NO MATCH in the verified chain")
    client = identity.get("client_certificate")
    if client is None:
        return
    if client["ok"]:
        print(
            f"\nClient certificate: {client['subject']}\n"
            f"  expires {client['not_after']} ({client['days_left']} days)\n"
            f"  pin     {client['spki_pin']}"
        )
    else:
        print("\nClient certificate: NOT USABLE")
        for text in client["problems"]:
            print(f"  {text}")
