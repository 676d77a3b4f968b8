"""Operator hints: one actionable sentence per diagnostic event.

A small ordered rule table maps the evidence in an event (its dotted keys)
to a sentence that says what the evidence suggests and which ``SOAPGUARD_*``
variable to change.  The first rule that applies wins, so specific evidence
(a connection used across ``fork()``, oversized records before a bad MAC) is
ranked above generic evidence (the error type alone).  Rules only read the
event; a missing or ``None`` field never makes a rule fire.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..retry.rules import TRANSIENT_TYPES
from ..tls.profiles import RECORD_OVERHEAD

__all__ = ["RULES", "HintRule", "hint_for", "is_cbc_suite"]

Event = Mapping[str, Any]

#: records above this (ciphertext) size are "large" for fragile peers
LARGE_RECORD = 4096
_AEAD_MARKERS = ("GCM", "CHACHA20", "CCM", "POLY1305")
#: what a connection the peer or a middlebox dropped looks like to the next request on it
_STALE_TYPES = TRANSIENT_TYPES - {"timeout.read"}
_TRANSIENT_TYPES = TRANSIENT_TYPES | {"http.status"}


@dataclass(frozen=True)
class HintRule:
    """``sentence(event)`` is the hint when ``applies(event)`` is true."""

    name: str
    applies: Callable[[Event], bool]
    sentence: Callable[[Event], str]


def is_cbc_suite(cipher: str | None) -> bool:
    """Whether an OpenSSL or IANA suite name is a CBC (non-AEAD) suite."""
    if not cipher:
        return False
    name = cipher.upper()
    return "CBC" in name or not any(marker in name for marker in _AEAD_MARKERS)


def _int(event: Event, key: str) -> int | None:
    value = event.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _largest_in(event: Event) -> int | None:
    sizes = [_int(event, "tls.largest_record_in")]
    recent = event.get("tls.recent_records_in")
    if isinstance(recent, list | tuple):
        sizes.extend(s for s in recent if isinstance(s, int))
    known = [s for s in sizes if s is not None]
    return max(known) if known else None


def _is(event: Event, error_type: str, origin: str | None = None) -> bool:
    return event.get("error.type") == error_type and (
        origin is None or event.get("error.origin") == origin
    )


def _cipher(event: Event) -> str:
    return str(event.get("tls.cipher") or "an unrecorded cipher")


# -- the rules, in order -------------------------------------------------------------------------


def _forked(event: Event) -> bool:
    created, pid = _int(event, "connection.created_pid"), _int(event, "process.pid")
    return created is not None and pid is not None and created != pid


def _forked_text(event: Event) -> str:
    return (
        f"This connection was opened by process {event['connection.created_pid']} and used by "
        f"process {event['process.pid']} after fork(), which corrupts TLS state; soapguard resets "
        "its pools in the child, so please report this as a bug and meanwhile create one client "
        "per process after forking."
    )


def _big_local_mac(event: Event) -> bool:
    largest = _largest_in(event)
    return _is(event, "tls.bad_record_mac", "local") and (largest or 0) > LARGE_RECORD


def _big_local_mac_text(event: Event) -> str:
    largest = _largest_in(event)
    cap = _int(event, "tls.max_fragment_length")
    if cap is None:
        return (
            f"A record from the peer failed its integrity check after records of up to {largest} "
            "bytes, the classic symptom of a peer or middlebox that mangles large TLS records, "
            "so try SOAPGUARD_MAX_RECORD_SIZE=4096 to ask the server for smaller ones."
        )
    if (largest or 0) > cap + RECORD_OVERHEAD:
        return (
            f"The peer sent {largest}-byte records although a {cap}-byte max_fragment_length was "
            "negotiated, so something between us rewrites records: look for a TLS-terminating "
            "middlebox on the path rather than changing SOAPGUARD_MAX_RECORD_SIZE."
        )
    lower = max(cap // 2, 512)
    return (
        f"Records were already capped at {cap} bytes and still failed the integrity check, so "
        f"try SOAPGUARD_MAX_RECORD_SIZE={lower} and, if that does not help, suspect a middlebox "
        "or faulty network equipment on the path."
    )


def _peer_mac_text(event: Event) -> str:
    return (
        "The server rejected one of our records as corrupt (bad_record_mac alert) on "
        f"{_cipher(event)}, which points at a middlebox or the server's crypto provider, so try "
        "another suite with SOAPGUARD_TLS_PROFILE or SOAPGUARD_CIPHERS."
    )


def _cbc(event: Event) -> bool:
    cipher = event.get("tls.cipher")
    return (
        isinstance(cipher, str)
        and is_cbc_suite(cipher)
        and event.get("error.type") in _STALE_TYPES | {"tls.other"}
    )


def _cbc_text(event: Event) -> str:
    return (
        f"The connection used the CBC suite {event['tls.cipher']}, which old TLS stacks get wrong "
        "under load, so prefer an AEAD suite with SOAPGUARD_TLS_PROFILE=intermediate (or remove "
        "CBC suites from SOAPGUARD_CIPHERS)."
    )


# -- connection lifecycle: stale pooled connections, a full pool --------------------------------

#: what a peer that dropped an idle connection looks like to the next request on it
_IDLE_TYPES = frozenset({"connection.reset", "tls.unexpected_eof"})
_NOT_RETRIED = {
    "not_idempotent": (
        "the call was not retried, since the request may have run on the server and the "
        "operation is not declared idempotent"
    ),
    "attempts_exhausted": "the call was not retried: SOAPGUARD_MAX_ATTEMPTS were used up",
    "deadline": "the call was not retried: no time was left before SOAPGUARD_DEADLINE",
    "budget": "the call was not retried: the endpoint's retry budget was spent",
}


def _retry_clause(event: Event) -> str:
    """What soapguard did about the call, exactly as decided (never a retry it did not make)."""
    if event.get("decision") == "retry":
        return "soapguard retried the call on a fresh connection"
    return _NOT_RETRIED.get(str(event.get("decision_reason")), "the call was not retried")


def _idle_seconds(event: Event) -> float | None:
    idle = event.get("connection.idle_ms")
    if not isinstance(idle, int | float) or isinstance(idle, bool):
        return None
    return idle / 1000


def _idle(event: Event) -> bool:
    return (
        event.get("connection.reused") is True
        and event.get("error.type") in _IDLE_TYPES
        and event.get("phase") in (None, "send", "wait")
        and _idle_seconds(event) is not None
    )


def _idle_text(event: Event) -> str:
    limit = event.get("config.pool_idle_timeout")
    now = f" (now {limit:g} s)" if isinstance(limit, int | float) else ""
    return (
        f"The connection had sat idle in the pool for {_idle_seconds(event):.1f} s before this "
        "request, long enough for the peer or a firewall or load balancer on the way to drop "
        f"it, so set SOAPGUARD_POOL_IDLE_TIMEOUT{now} below the shortest idle limit on the "
        f"path (`soapguard probe URL --idle-wait S` measures the server's); {_retry_clause(event)}."
    )


def _pool_text(event: Event) -> str:
    return (
        "Every connection the pool may keep for this endpoint (SOAPGUARD_POOL_MAXSIZE) stayed "
        "busy until the wait for one (at most SOAPGUARD_CONNECT_TIMEOUT) ran out, so nothing "
        "was sent; raise SOAPGUARD_POOL_MAXSIZE if the server accepts more connections, or "
        "make fewer calls at once."
    )


def _stale(event: Event) -> bool:
    requests = _int(event, "connection.requests")
    reused = (requests or 0) > 1 or event.get("connection.reused") is True
    return reused and event.get("error.type") in _STALE_TYPES


def _stale_text(event: Event) -> str:
    count = _int(event, "connection.requests")
    which = f"request {count} on it" if count else "a reused one"
    return (
        f"The failure ({event['error.type']}) hit a pooled connection ({which}), so it most "
        "likely went stale (server or middlebox idle timeout or keep-alive limit): keep "
        f"SOAPGUARD_POOL_IDLE_TIMEOUT under the peer's idle limit; {_retry_clause(event)}."
    )


# -- other rules ---------------------------------------------------------------------------------


def _when(error_type: str) -> Callable[[Event], bool]:
    return lambda event: event.get("error.type") == error_type


def _reason(reason: str) -> Callable[[Event], bool]:
    return lambda event: event.get("decision_reason") == reason


def _not_idempotent(event: Event) -> bool:
    return _reason("not_idempotent")(event) and event.get("error.type") in _TRANSIENT_TYPES


def _text(sentence: str) -> Callable[[Event], str]:
    return lambda event: sentence


def _redirect(event: Event) -> bool:
    status = _int(event, "http.response.status_code")
    return event.get("error.type") == "http.status" and status is not None and 300 <= status < 400


def _redirect_text(event: Event) -> str:
    where = event.get("http.response.header.location") or "an address the event does not show"
    return (
        f"The server redirected the call to {where}, which soapguard does not follow (only "
        "307/308 to the same scheme, host and port: another redirect could send the envelope "
        "and its credentials in clear text or to another host), so call the final address "
        "directly (client.create_service(binding, address) sets it)."
    )


def _tunnel(event: Event) -> bool:
    return event.get("error.type") == "http.status" and event.get("phase") == "connect"


def _tunnel_text(event: Event) -> str:
    status = _int(event, "http.response.status_code")
    target = f"{event.get('server.address')}:{event.get('server.port')}"
    if status == 407:
        return (
            "The HTTPS proxy refused the tunnel with 407 Proxy Authentication Required, so give "
            "it credentials in the proxy URL (HTTPS_PROXY=http://user:password@proxy:port) or "
            "check that they are still valid; nothing was sent to the service."
        )
    return (
        f"The HTTPS proxy could not open a tunnel to {target} (HTTP {status} to CONNECT), so "
        "nothing was sent to the service; check that the proxy can reach it, or list the host "
        "in NO_PROXY if it should be reached directly."
    )


def _overflow_text(event: Event) -> str:
    if event.get("error.origin") == "peer":
        return (
            "The peer rejected one of our TLS records as too long (record_overflow alert), so "
            "lower SOAPGUARD_MAX_RECORD_SIZE to what it accepts (try 4096, then 2048)."
        )
    cap = _int(event, "tls.max_fragment_length")
    agreed = f"a {cap}-byte max_fragment_length" if cap else "a smaller max_fragment_length"
    return (
        f"The peer sent a TLS record longer than the {agreed} it agreed to, so it ignores "
        "the cap: set SOAPGUARD_MAX_RECORD_SIZE to a size other than 512, 1024, 2048 or 4096 "
        "(which caps only what soapguard sends) or unset it."
    )


# -- the async client: cancellation and its per-endpoint pool ----------------------------------


def _cancelled(event: Event) -> bool:
    return event.get("event") == "soapguard.call_cancelled"


_CANCELLED_TEXT = (
    "The application cancelled this call after its request may have reached the server, "
    "so the operation may have run there: check its outcome before repeating it, and "
    "consider SOAPGUARD_IDEMPOTENCY_HEADER so that the server can recognise a repeat."
)


# -- old peers under OpenSSL 3: each refusal names the switch and what it trades away --------

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
    level = _int(event, "tls.security_level")
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


def _message(event: Event) -> str:
    message = event.get("error.message")
    return message if isinstance(message, str) else ""


def _weak_certificate(event: Event) -> bool:
    text = _message(event)
    return _is(event, "tls.certificate") and ("too weak" in text or "TOO_SMALL" in text)


def _weak_certificate_text(event: Event) -> str:
    if "digest" in _message(event) or "MD_TOO_WEAK" in _message(event):
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


LEGACY_PEER_RULES: tuple[HintRule, ...] = (
    HintRule("legacy_renegotiation", _when("tls.legacy_renegotiation"), _legacy_renegotiation_text),
    HintRule("dh_key_too_small", _when("tls.dh_key_too_small"), _dh_text),
    HintRule(
        "renegotiation_refused",
        _when("tls.renegotiation_refused"),
        _text(
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
        _when("tls.handshake_failure"),
        _text(
            "The handshake was refused, which with an old server usually means it needs "
            "something these settings do not offer (an older TLS version, DHE or static-RSA "
            "suites, a small DH group, legacy renegotiation), so run `soapguard probe URL`: it "
            "tries each and names the SOAPGUARD_* lines that reach the server."
        ),
    ),
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


RULES: tuple[HintRule, ...] = (
    HintRule("cancelled", _cancelled, _text(_CANCELLED_TEXT)),
    HintRule("pool_timeout", _when("timeout.pool"), _pool_text),
    HintRule("fork", _forked, _forked_text),
    HintRule("proxy_tunnel", _tunnel, _tunnel_text),
    HintRule("record_overflow", _when("tls.record_overflow"), _overflow_text),
    HintRule("redirect", _redirect, _redirect_text),
    HintRule("bad_record_mac_large_records", _big_local_mac, _big_local_mac_text),
    HintRule("bad_record_mac_peer", lambda e: _is(e, "tls.bad_record_mac", "peer"), _peer_mac_text),
    HintRule("idle_connection", _idle, _idle_text),
    HintRule("cbc_suite", _cbc, _cbc_text),
    HintRule("stale_connection", _stale, _stale_text),
    *LEGACY_PEER_RULES,
    HintRule("pin_mismatch", _when("tls.pin_mismatch"), _pin_text),
    HintRule(
        "certificate",
        _when("tls.certificate"),
        _text(
            "The server's certificate was not trusted or did not match the host name, so point "
            "SOAPGUARD_CA_BUNDLE at the CA that issued it (verification cannot be switched off)."
        ),
    ),
    HintRule(
        "protocol_version",
        _when("tls.protocol_version"),
        _text(
            "Client and server share no TLS version, so check what the server speaks with "
            "`soapguard probe URL` and, if it only offers TLS 1.0/1.1, set "
            "SOAPGUARD_TLS_PROFILE=legacy with SOAPGUARD_TLS_MIN_VERSION accordingly."
        ),
    ),
    HintRule(
        "no_shared_cipher",
        _when("tls.no_shared_cipher"),
        _text(
            "Client and server share no cipher suite, so run `soapguard probe URL` to list what "
            "the server accepts and then set SOAPGUARD_TLS_PROFILE=legacy or a matching "
            "SOAPGUARD_CIPHERS."
        ),
    ),
    HintRule(
        "deadline",
        _when("timeout.deadline"),
        _text(
            "The call's overall deadline ran out across attempts and backoff, so raise "
            "SOAPGUARD_DEADLINE or lower SOAPGUARD_MAX_ATTEMPTS / SOAPGUARD_READ_TIMEOUT to fit."
        ),
    ),
    HintRule(
        "read_timeout",
        _when("timeout.read"),
        _text(
            "The server accepted the request but sent no response within the read timeout, so "
            "raise SOAPGUARD_READ_TIMEOUT if the operation is legitimately slow, otherwise "
            "investigate the server's slowness."
        ),
    ),
    HintRule(
        "budget",
        _reason("budget"),
        _text(
            "The retry budget for this endpoint is spent, meaning it is failing broadly rather "
            "than intermittently, so investigate the endpoint before raising "
            "SOAPGUARD_RETRY_BUDGET."
        ),
    ),
    HintRule(
        "deadline_reached",
        _reason("deadline"),
        _text(
            "No time was left within SOAPGUARD_DEADLINE for another attempt, so raise it if the "
            "endpoint needs longer to recover, or lower SOAPGUARD_READ_TIMEOUT so that attempts "
            "fail sooner."
        ),
    ),
    HintRule(
        "not_idempotent",
        _not_idempotent,
        lambda e: (
            f"This transient {e['error.type']} happened after the request was sent and the "
            "operation is not declared idempotent, so it was not retried; add it to "
            "SOAPGUARD_IDEMPOTENT_OPERATIONS only if repeating it is really safe."
        ),
    ),
    HintRule(
        "bad_record_mac_local",
        lambda e: _is(e, "tls.bad_record_mac", "local"),
        lambda e: (
            f"A record from the peer failed its integrity check on {_cipher(e)} although records "
            "were small, which points at a middlebox or faulty network equipment, so compare "
            "suites with `soapguard probe URL` and try SOAPGUARD_MAX_RECORD_SIZE=4096."
        ),
    ),
    HintRule(
        "connect_timeout",
        _when("timeout.connect"),
        _text(
            "No TCP connection could be made in time, so check firewalls and routing to the "
            "server, or raise SOAPGUARD_CONNECT_TIMEOUT for a slow network."
        ),
    ),
    HintRule(
        "attempts_exhausted",
        _reason("attempts_exhausted"),
        _text(
            "Every attempt failed with a retryable error, so the endpoint is unhealthy for "
            "longer than SOAPGUARD_MAX_ATTEMPTS and SOAPGUARD_BACKOFF_MAX cover."
        ),
    ),
)


def hint_for(event: Mapping[str, Any]) -> str | None:
    """The first matching rule's sentence for ``event``, or ``None`` when no rule applies."""
    for rule in RULES:
        if rule.applies(event):
            return rule.sentence(event)
    return None
