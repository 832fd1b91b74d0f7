"""Time budgets for grading: per call and per item, so no item's grading runs unbounded.

The per-item budget is a deadline the batch grader sets around one item's rollouts
(:func:`item_budget`); a bounded verifier asks :func:`call_budget` how long its next call may run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

PER_CALL_SECONDS = 1.0  # one math-verify parse + verify
PER_ITEM_SECONDS = 2.0  # all rollouts of one item together
GOLD_PARSE_SECONDS = 0.5  # S010: one gold answer, both ways of parsing it (most take ms)

_deadline: ContextVar[float | None] = ContextVar("datalint_grading_deadline", default=None)


@contextmanager
def item_budget(seconds: float = PER_ITEM_SECONDS) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def call_budget(per_call: float = PER_CALL_SECONDS) -> float:
    """Seconds the next call may take: ``per_call``, less if the item's budget runs out first
    (0 or less: the item's budget is spent)."""
    deadline = _deadline.get()
    if deadline is None:
        return per_call
    return min(per_call, deadline - time.monotonic())
