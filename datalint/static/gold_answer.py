"""S013: an item whose gold answer cannot be verified (empty, NuminaMath's ``proof`` /
``notfound`` placeholders, a ``numeric`` gold that is not a number), found before any rollout.
See :func:`datalint.grade.preflight.gold_problem`."""

from __future__ import annotations

from datalint.engine import Gate
from datalint.grade.preflight import gold_problem
from datalint.grade.settings import Grading
from datalint.load.records import Item

FEATURE = "gold_verifiable"


class GoldAnswer:
    """Reports ``gold_verifiable`` (1 or 0) for every item."""

    def __init__(self, grading: Grading) -> None:
        self._grading = grading

    def feed(self, item: Item, gate: Gate) -> None:
        problem = gold_problem(item, self._grading)
        context = {"verifier": problem.verifier, "reason": problem.reason} if problem else {}
        gate.observe(FEATURE, int(problem is None), item.source, **context)

    def finish(self, gate: Gate) -> None:
        return None
