"""Hints about corrupted or oversized TLS records: bad MACs, record_overflow, CBC suites."""

from __future__ import annotations

from ...retry.rules import TRANSIENT_TYPES
from ..record_size import RecordAdvice, record_advice
from ._rule import Event, HintRule, cipher, integer, is_cbc_suite, is_type, when

__all__ = ["CBC_RULE", "RECORD_RULES", "SMALL_RECORD_MAC_RULE", "largest_in"]

#: what a connection the peer or a middlebox dropped looks like to the next request on it
_CBC_TYPES = (TRANSIENT_TYPES - {"timeout.read"}) | {"tls.other"}


def largest_in(event: Event) -> int | None:
    """The largest record length received, from the largest seen or the recent sizes."""
    sizes = [integer(event, "tls.largest_record_in")]
    recent = event.get("tls.recent_records_in")
    if isinstance(recent, list | tuple):
        sizes.extend(s for s in recent if isinstance(s, int))
    known = [s for s in sizes if s is not None]
    return max(known) if known else None


def _configured_cap(event: Event) -> int | None:
    """``SOAPGUARD_MAX_RECORD_SIZE`` of the event, else the negotiated max_fragment_length."""
    configured = integer(event, "config.max_record_size")
    return configured if configured is not None else integer(event, "tls.max_fragment_length")


def _advice(event: Event) -> RecordAdvice:
    return record_advice(_configured_cap(event), largest_in(event))


def _local_mac(event: Event) -> bool:
    return is_type(event, "tls.bad_record_mac", "local")


def _sized(event: Event) -> bool:
    return _local_mac(event) and _advice(event).kind != "small"


def _sized_text(event: Event) -> str:
    advice, largest = _advice(event), largest_in(event)
    if advice.kind == "ignored":
        return (
            f"The peer sent {largest}-byte records although it was asked for at most "
            f"{advice.cap} (SOAPGUARD_MAX_RECORD_SIZE), so it or a TLS-terminating "
            "middlebox ignores the cap and a smaller SOAPGUARD_MAX_RECORD_SIZE cannot help: "
            "look for that middlebox on the path."
        )
    if advice.kind == "floor":
        return (
            "Records were already capped at 512 bytes, the smallest size TLS can ask for, and "
            "still failed the integrity check, so their size is not the cause: suspect a "
            "middlebox or faulty network equipment, and compare suites with `soapguard probe "
            "URL` (SOAPGUARD_TLS_PROFILE)."
        )
    if advice.kind == "lower":
        return (
            f"Records were already capped at {advice.cap} bytes and still failed the integrity "
            f"check, so try SOAPGUARD_MAX_RECORD_SIZE={advice.size} and, if that does not help "
            "either, suspect a middlebox or faulty network equipment on the path."
        )
    return (
        f"A record from the peer failed its integrity check after records of up to {largest} "
        "bytes, the classic symptom of a peer or middlebox that mangles large TLS records, "
        f"so try SOAPGUARD_MAX_RECORD_SIZE={advice.size} to ask the server for smaller ones."
    )


def _small_text(event: Event) -> str:
    return (
        f"A record from the peer failed its integrity check on {cipher(event)} although its "
        "records were small, which points at a middlebox, faulty network equipment or the "
        "server's crypto provider rather than record sizes, so compare suites with "
        "`soapguard probe URL` and try another one with SOAPGUARD_TLS_PROFILE or "
        "SOAPGUARD_CIPHERS."
    )


def _peer_mac(event: Event) -> bool:
    return is_type(event, "tls.bad_record_mac", "peer")


def _peer_mac_text(event: Event) -> str:
    return (
        "The server rejected one of our records as corrupt (bad_record_mac alert) on "
        f"{cipher(event)}, which points at a middlebox or the server's crypto provider, so try "
        "another suite with SOAPGUARD_TLS_PROFILE or SOAPGUARD_CIPHERS."
    )


def _overflow_text(event: Event) -> str:
    if event.get("error.origin") == "peer":
        return (
            "The peer rejected one of our TLS records as too long (record_overflow alert), so "
            "lower SOAPGUARD_MAX_RECORD_SIZE to what it accepts (try 4096, then 2048)."
        )
    cap = integer(event, "tls.max_fragment_length")
    agreed = f"a {cap}-byte max_fragment_length" if cap else "a smaller max_fragment_length"
    return (
        f"The peer sent a TLS record longer than the {agreed} it agreed to, so it ignores "
        "the cap: set SOAPGUARD_MAX_RECORD_SIZE to a size other than 512, 1024, 2048 or 4096 "
        "(which caps only what soapguard sends) or unset it."
    )


def _cbc(event: Event) -> bool:
    suite = event.get("tls.cipher")
    return isinstance(suite, str) and is_cbc_suite(suite) and event.get("error.type") in _CBC_TYPES


def _cbc_text(event: Event) -> str:
    return (
        f"The connection used the CBC suite {event['tls.cipher']}, which old TLS stacks get wrong "
        "under load, so prefer an AEAD suite with SOAPGUARD_TLS_PROFILE=intermediate (or remove "
        "CBC suites from SOAPGUARD_CIPHERS)."
    )


RECORD_RULES: tuple[HintRule, ...] = (
    HintRule("record_overflow", when("tls.record_overflow"), _overflow_text),
    HintRule("bad_record_mac_large_records", _sized, _sized_text),
    HintRule(
        "bad_record_mac_peer", lambda e: is_type(e, "tls.bad_record_mac", "peer"), _peer_mac_text
    ),
)
CBC_RULE = HintRule("cbc_suite", _cbc, _cbc_text)
#: a local bad MAC on small records: ranked after the connection-level rules (stale, CBC)
SMALL_RECORD_MAC_RULE = HintRule("bad_record_mac_local", _local_mac, _small_text)
