"""Retries: the rules (:mod:`.rules`, pure), the budget, and the attempt loop (:mod:`.loop`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from .rules import Decision, RetryBudget, decide, idempotent, is_idempotent

__all__ = ["Decision", "RetryBudget", "decide", "idempotent", "is_idempotent"]
__getattr__, __dir__ = attach(__name__, dict.fromkeys(__all__, ".rules"))
