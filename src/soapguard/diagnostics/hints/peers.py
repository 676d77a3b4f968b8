"""Hints about what a server accepts: certificates, pins, TLS versions, suites, old peers.

Each refusal of an old peer under OpenSSL 3 names the one switch that reaches it and
what that switch trades away.
"""

from __future__ import annotations

from ._rule import Event, HintRule, integer, is_type, message, target, text, when

__all__ = ["LEVEL_1_TRADE_OFF", "PEER_RULES", "RENEGOTIATION_TRADE_OFF", "TRUST_RULES"]

#: what ``SOAPGUARD_TLS_LEGACY_RENEGOTIATION=true`` leaves open, in the words the docs use
RENEGOTIATION_TRADE_OFF = (
    "soapguard still never renegotiates, but the connection is not immune to CVE-2009-3555: "
    "an active attacker on the network path can splice the client's first handshake into "
    "its own session and put data in front of the first request if the server allows "
    "client-initiated renegotiation, so use it only on a trusted network path"
)
#: what ``SOAPGUARD_TLS_SECURITY_LEVEL=1`` accepts (OpenSSL 3 refuses SHA-1 signatures
#: there too; only OpenSSL 1.1.1 accepts them at level 1)
LEVEL_1_TRADE_OFF = (
    "1024-bit DH groups and 1024-bit RSA keys: about 80-bit security, within reach of a "
    "well-funded attacker"
)


def _legacy_renegotiation_text(event: Event) -> str:
    return (
        "The server does not support RFC 5746 secure renegotiation, which OpenSSL 3 refuses, "
        "so have the server enable it or set SOAPGUARD_TLS_LEGACY_RENEGOTIATION=true: "
        f"{RENEGOTIATION_TRADE_OFF}."
    )


def _dh_text(event: Event) -> str:
    level = integer(event, "tls.security_level")
    if level is not None and level < 2:
        return (
            "The server's Diffie-Hellman (DHE) group is too small even for "
            f"SOAPGUARD_TLS_SECURITY_LEVEL={level}, so no soapguard setting reaches it with "
            "DHE: have the server use a group of 2048 bits or more, or an ECDHE or RSA suite "
            "(`soapguard probe URL` lists what it offers)."
        )
    return (
        "The server's Diffie-Hellman (DHE) group is smaller than the 2048 bits OpenSSL "
        "security level 2 requires, so run `soapguard probe URL`: if the server also has a "
        "suite without DHE it recommends that SOAPGUARD_CIPHERS, otherwise "
        "SOAPGUARD_TLS_SECURITY_LEVEL=1 with SOAPGUARD_TLS_PROFILE=legacy, which accepts "
        f"{LEVEL_1_TRADE_OFF}."
    )


def _weak_certificate(event: Event) -> bool:
    said = message(event)
    return is_type(event, "tls.certificate") and ("too weak" in said or "TOO_SMALL" in said)


def _weak_certificate_text(event: Event) -> str:
    if "digest" in message(event) or "MD_TOO_WEAK" in message(event):
        return (
            "A certificate in the chain is signed with a digest OpenSSL 3 refuses (SHA-1 or "
            "MD5) at every security level a TLS 1.2 connection can use, so have it reissued "
            "with SHA-256 (SOAPGUARD_TLS_SECURITY_LEVEL cannot accept it)."
        )
    return (
        "The certificate's key is smaller than OpenSSL security level 2 accepts (an RSA key "
        "under 2048 bits), so have it reissued, or set SOAPGUARD_TLS_SECURITY_LEVEL=1 with "
        f"SOAPGUARD_TLS_PROFILE=legacy, which accepts {LEVEL_1_TRADE_OFF}."
    )


def _pin_text(event: Event) -> str:
    presented = event.get("tls.server.pins")
    if not isinstance(presented, list) or not presented:
        return (
            "No verified certificate chain was available to compare with "
            "SOAPGUARD_PINNED_KEYS, which happens when code switches certificate verification "
            "off: pins never replace verification, so turn it back on."
        )
    leaf = presented[0]
    others = f" (and {len(presented) - 1} more up its chain)" if len(presented) > 1 else ""
    return (
        f"The server presented the key {leaf}{others}, which is not in SOAPGUARD_PINNED_KEYS: "
        f"if its key was rotated on purpose add {leaf} to SOAPGUARD_PINNED_KEYS (keep the old "
        "pin until every server has the new key), otherwise something on the path is "
        "intercepting TLS."
    )


def _not_tls(event: Event) -> bool:
    said = f"{event.get('openssl.reason') or ''} {message(event)}"
    return is_type(event, "tls.protocol_version") and "WRONG_VERSION_NUMBER" in said


def _not_tls_text(event: Event) -> str:
    return (
        f"What answered on {target(event)} did not speak TLS at all (its first bytes were not "
        "a TLS record: typically plain HTTP on that port), so use the port that serves "
        "HTTPS, or an http:// address if the service really has no TLS; no SOAPGUARD_* "
        "setting makes a handshake work there."
    )


#: old peers under OpenSSL 3
PEER_RULES: tuple[HintRule, ...] = (
    HintRule("legacy_renegotiation", when("tls.legacy_renegotiation"), _legacy_renegotiation_text),
    HintRule("dh_key_too_small", when("tls.dh_key_too_small"), _dh_text),
    HintRule(
        "renegotiation_refused",
        when("tls.renegotiation_refused"),
        text(
            "The server asked to renegotiate TLS in the middle of the exchange (IIS does this to "
            "ask for a client certificate on some paths) and soapguard never renegotiates, "
            "whatever its settings, so have the server ask for the certificate in the initial "
            "handshake (IIS: clientcertnegotiation=enable on the binding) and give it with "
            "SOAPGUARD_CLIENT_CERT."
        ),
    ),
    HintRule("weak_certificate", _weak_certificate, _weak_certificate_text),
    HintRule(
        "handshake_failure",
        when("tls.handshake_failure"),
        text(
            "The handshake was refused, which with an old server usually means it needs "
            "something these settings do not offer (an older TLS version, DHE or static-RSA "
            "suites, a small DH group, legacy renegotiation), so run `soapguard probe URL`: it "
            "tries each and names the SOAPGUARD_* lines that reach the server."
        ),
    ),
)
#: whom to trust, and what both sides speak
TRUST_RULES: tuple[HintRule, ...] = (
    HintRule("pin_mismatch", when("tls.pin_mismatch"), _pin_text),
    HintRule(
        "certificate",
        when("tls.certificate"),
        text(
            "The server's certificate was not trusted or did not match the host name, so point "
            "SOAPGUARD_CA_BUNDLE at the CA that issued it (no setting switches verification off)."
        ),
    ),
    HintRule("not_tls", _not_tls, _not_tls_text),
    HintRule(
        "protocol_version",
        when("tls.protocol_version"),
        text(
            "Client and server share no TLS version, so check what the server speaks with "
            "`soapguard probe URL` and, if it only offers TLS 1.0/1.1, set "
            "SOAPGUARD_TLS_PROFILE=legacy with SOAPGUARD_TLS_MIN_VERSION accordingly."
        ),
    ),
    HintRule(
        "no_shared_cipher",
        when("tls.no_shared_cipher"),
        text(
            "Client and server share no cipher suite, so run `soapguard probe URL` to list what "
            "the server accepts and then set SOAPGUARD_TLS_PROFILE=legacy or a matching "
            "SOAPGUARD_CIPHERS."
        ),
    ),
)
