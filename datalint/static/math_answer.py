"""S010: a math item whose gold answer math-verify cannot parse (the ``math`` extra).

It parses the gold answer the way the ``math`` verifier does (``$...$``-wrapped unless it already
holds ``$`` or ``\\boxed``, then bare; see :mod:`datalint.grade.math_verifier`), so an item passes
here exactly when grading can read its gold answer. Plain integers and decimals skip
math-verify (they always parse) and results are cached per answer string, which keeps
a million-line file of numeric answers fast; without math-verify the check is skipped.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Callable

from datalint.engine import Gate
from datalint.extras import MissingExtra
from datalint.load.records import Item
from datalint.static.base import SkippedCheck, StaticCheck

FEATURE = "math_answer_parsed"
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_CACHE_LIMIT = 100_000


def build() -> StaticCheck:
    # find_spec, not import: math-verify pulls in sympy (~1 s), paid only if a math item comes
    if importlib.util.find_spec("math_verify") is None:
        reason = MissingExtra("math", "to check that math gold answers parse")
        return SkippedCheck(f"S010 unparseable-math-answer skipped: {reason}")
    return MathAnswer(gold_parses)


def gold_parses(gold: str) -> bool:
    import math_verify

    # math-verify's timeouts use signal.alarm, which only works in the main thread
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    text = gold if "$" in gold or "\\boxed" in gold else f"${gold}$"
    if math_verify.parse(text, parsing_timeout=timeout):
        return True
    return bool(math_verify.parse(gold, parsing_timeout=timeout))


class MathAnswer:
    """Reports ``math_answer_parsed`` (1 or 0) for every item whose verifier is ``math``."""

    def __init__(self, parses: Callable[[str], bool]) -> None:
        self._parses = parses
        self._seen: dict[str, bool] = {}

    def feed(self, item: Item, gate: Gate) -> None:
        if item.verifier != "math":
            return
        gold = item.answer_text.strip()
        gate.observe(FEATURE, int(self._parsed(gold)), item.source, answer=gold)

    def finish(self, gate: Gate) -> None:
        return None

    def _parsed(self, gold: str) -> bool:
        if _PLAIN_NUMBER.fullmatch(gold):
            return True
        known = self._seen.get(gold)
        if known is None:
            known = bool(gold) and self._parses(gold)
            if len(self._seen) < _CACHE_LIMIT:
                self._seen[gold] = known
        return known
