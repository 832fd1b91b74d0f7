"""What every verifier is: a callable that scores one completion of one item."""

from __future__ import annotations

import math
from typing import Protocol

from datalint.load.records import Item


class GradingError(Exception):
    """A verifier could not score a completion (bad gold answer, bad pattern, a plug-in bug)."""


class Verifier(Protocol):
    """Scores ``completion`` against ``item`` (its ``answer``, ``choices``, ``meta``).

    Returns a reward: 1.0 right, 0.0 wrong, anything in between for partial credit. Raises
    :class:`GradingError` when the item itself cannot be graded.
    """

    def __call__(self, completion: str, item: Item) -> float: ...


def as_reward(value: object, verifier: str) -> float:
    """A verifier's return value as a finite float (bool -> 0/1); anything else is an error."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(float(value)):
        return float(value)
    raise GradingError(f"verifier {verifier!r} returned {value!r}, not a finite number")
