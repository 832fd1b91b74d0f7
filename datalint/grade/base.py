"""What every verifier is: a callable that scores one completion of one item."""

from __future__ import annotations

import math
from typing import Any, Protocol

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


def gold_answers(item: Item) -> list[str | int | float]:
    """The accepted answers of an item: a list gold means "any of these" (Skywork-OR1)."""
    answer: Any = item.answer
    if isinstance(answer, list | tuple):
        return [a for a in answer if isinstance(a, str | int | float) and not isinstance(a, bool)]
    return [answer]


def gold_texts(item: Item) -> list[str]:
    """The accepted answers as strings (numbers written as JSON wrote them)."""
    return [str(a) for a in gold_answers(item)]


def describe_gold(item: Item) -> str:
    """The gold answer for messages: the single answer, or the list of accepted ones."""
    texts = gold_texts(item)
    return texts[0] if len(texts) == 1 else " | ".join(texts)
