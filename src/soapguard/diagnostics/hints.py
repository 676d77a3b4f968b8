"""Operator hints: one actionable sentence per diagnostic event.

A small ordered rule table maps the evidence in an event (SPEC §6 dotted keys)
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

__all__ = ["RULES", "HintRule", "hint_for", "is_cbc_suite"]

Event = Mapping[str, Any]

#: records above this (ciphertext) size are "large" for fragile peers
LARGE_RECORD = 4096
#: AEAD tag + explicit nonce + padding a record may add on top of its plaintext cap
RECORD_OVERHEAD = 256
_AEAD_MARKERS = ("GCM", "CHACHA20", "CCM", "POLY1305")
_STALE_TYPES = frozenset({"connection.reset", "tls.unexpected_eof", "tls.bad_record_mac"})
_TRANSIENT_TYPES = _STALE_TYPES | {"timeout.read", "http.status"}


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
        "busy until the wait for one ran out, so nothing was sent; raise "
        "SOAPGUARD_POOL_MAXSIZE if the server accepts more connections, or make fewer calls "
        "at once."
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


RULES: tuple[HintRule, ...] = (
    HintRule("fork", _forked, _forked_text),
    HintRule("proxy_tunnel", _tunnel, _tunnel_text),
    HintRule("record_overflow", _when("tls.record_overflow"), _overflow_text),
    HintRule("redirect", _redirect, _redirect_text),
    HintRule("bad_record_mac_large_records", _big_local_mac, _big_local_mac_text),
    HintRule("bad_record_mac_peer", lambda e: _is(e, "tls.bad_record_mac", "peer"), _peer_mac_text),
    HintRule("idle_connection", _idle, _idle_text),
    HintRule("pool_timeout", lambda e: e.get("error.type") == "timeout.pool", _pool_text),
    HintRule("cbc_suite", _cbc, _cbc_text),
    HintRule("stale_connection", _stale, _stale_text),
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
