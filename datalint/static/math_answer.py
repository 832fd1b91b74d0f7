"""S010: a math item whose gold answer math-verify cannot parse (the ``math`` extra).

It parses the gold answer the way the ``math`` verifier does (``$...$``-wrapped unless it already
holds ``$`` or ``\\boxed``, then bare; see :mod:`datalint.grade.math_worker`), so an item passes
here exactly when grading can read its gold answer. The parse runs in the bounded math-verify
worker with :data:`~datalint.grade.budget.GOLD_PARSE_SECONDS` per answer: a hostile answer costs
half a second, not math-verify's 5 s, and one that runs out of time counts as unparseable.
Plain integers and decimals skip math-verify (they always parse) and results are cached per
answer string, which keeps a million-line file of numeric answers fast; without math-verify the
check is skipped. Empty and placeholder answers are S013's, not this rule's.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable

from datalint.engine import Gate
from datalint.extras import MissingExtra
from datalint.grade.base import GradingError, gold_texts
from datalint.grade.budget import GOLD_PARSE_SECONDS
from datalint.grade.preflight import PLACEHOLDER_ANSWERS
from datalint.grade.registry import verifier_name
from datalint.grade.settings import Grading
from datalint.load.records import Item
from datalint.static.base import SkippedCheck, StaticCheck

FEATURE = "math_answer_parsed"
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_CACHE_LIMIT = 100_000


def build(grading: Grading | None = None) -> StaticCheck:
    # find_spec, not import: math-verify pulls in sympy (~1 s), paid only if a math item comes
    if importlib.util.find_spec("math_verify") is None:
        reason = MissingExtra("math", "to check that math gold answers parse")
        return SkippedCheck(f"S010 unparseable-math-answer skipped: {reason}")
    return MathAnswer(gold_parses, grading or Grading())


def gold_parses(gold: str) -> bool:
    """Whether math-verify parses ``gold`` within the budget (in the bounded worker)."""
    from datalint.grade.math_worker import math_call

    try:
        return bool(math_call("parse_gold", (gold,), GOLD_PARSE_SECONDS))
    except GradingError:  # out of budget or the worker failed: not a gold grading can read
        return False


class MathAnswer:
    """Reports ``math_answer_parsed`` (1 or 0) for every item whose verifier is ``math``."""

    def __init__(self, parses: Callable[[str], bool], grading: Grading | None = None) -> None:
        self._parses = parses
        self._grading = grading or Grading()
        self._seen: dict[str, bool] = {}

    def feed(self, item: Item, gate: Gate) -> None:
        if verifier_name(item, self._grading.default_verifier) != "math":
            return
        for gold in (g.strip() for g in gold_texts(item)):
            if not gold or gold.casefold() in PLACEHOLDER_ANSWERS:
                continue  # S013 reports these
            parsed = self._parsed(gold)
            gate.observe(FEATURE, int(parsed), item.source, answer=gold)
            if not parsed:
                return

    def finish(self, gate: Gate) -> None:
        return None

    def _parsed(self, gold: str) -> bool:
        if _PLAIN_NUMBER.fullmatch(gold):
            return True
        known = self._seen.get(gold)
        if known is None:
            known = self._parses(gold)
            if len(self._seen) < _CACHE_LIMIT:
                self._seen[gold] = known
        return known
