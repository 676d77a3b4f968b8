"""Operator hints: one actionable sentence per diagnostic event.

An ordered rule table maps the evidence in an event (its dotted keys) to a sentence
that says what the evidence suggests and which ``SOAPGUARD_*`` variable to change.
The first rule that applies wins, so specific evidence (a connection used across
``fork()``, oversized records before a bad MAC) is ranked above generic evidence (the
error type alone, then why the attempt loop stopped).  The rules live by topic:
:mod:`.lifecycle` (pooled connections), :mod:`.records` (TLS records), :mod:`.peers`
(what a server accepts), :mod:`.network` (addresses, routes, limits).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._rule import HintRule, is_cbc_suite
from .lifecycle import EARLY_RULES, IDLE_RULE, STALE_RULE
from .network import ATTEMPTS_RULE, CONNECT_TIMEOUT_RULE, LIMIT_RULES, ROUTE_RULES, STOP_RULES
from .peers import LEVEL_1_TRADE_OFF, PEER_RULES, RENEGOTIATION_TRADE_OFF, TRUST_RULES
from .records import CBC_RULE, RECORD_RULES, SMALL_RECORD_MAC_RULE

__all__ = [
    "LEVEL_1_TRADE_OFF",
    "RENEGOTIATION_TRADE_OFF",
    "RULES",
    "HintRule",
    "hint_for",
    "is_cbc_suite",
]

RULES: tuple[HintRule, ...] = (
    *EARLY_RULES,
    *ROUTE_RULES,
    *RECORD_RULES,
    IDLE_RULE,
    CBC_RULE,
    STALE_RULE,
    *PEER_RULES,
    *TRUST_RULES,
    *LIMIT_RULES,
    *STOP_RULES,
    SMALL_RECORD_MAC_RULE,
    CONNECT_TIMEOUT_RULE,
    ATTEMPTS_RULE,
)


def hint_for(event: Mapping[str, Any]) -> str | None:
    """The first matching rule's sentence for ``event``, or ``None`` when no rule applies."""
    for rule in RULES:
        if rule.applies(event):
            return rule.sentence(event)
    return None
