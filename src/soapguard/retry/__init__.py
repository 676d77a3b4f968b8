"""Retries: the rules (:mod:`.rules`, pure), the budget, and the attempt loop (:mod:`.loop`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from .budget import RetryBudget
    from .identity import idempotent, is_idempotent
    from .rules import Decision, decide

__all__ = ["Decision", "RetryBudget", "decide", "idempotent", "is_idempotent"]
__getattr__, __dir__ = attach(
    __name__,
    {
        "Decision": ".rules",
        "decide": ".rules",
        "RetryBudget": ".budget",
        "idempotent": ".identity",
        "is_idempotent": ".identity",
    },
)
