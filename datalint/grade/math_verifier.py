"""The ``math`` verifier: math-verify's ``parse`` + ``verify`` (the ``math`` extra), bounded.

Every call runs in a worker process (:mod:`.math_worker`) within the per-call budget and what is
left of the item's budget (:mod:`.budget`). The extraction mode decides what math-verify reads:
the whole completion (``strict`` and ``math-verify``: its own extraction, as open-r1 does), or
the text :mod:`.extract` takes out (``boxed``, ``gsm8k``, ``last-number``), parsed as LaTeX.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from datalint.extras import MissingExtra
from datalint.grade.base import GradingError, gold_texts
from datalint.grade.budget import call_budget
from datalint.grade.extract import extracted_text
from datalint.grade.settings import DEFAULT_EXTRACTION
from datalint.load.records import Item


def require_math_verify() -> None:
    if importlib.util.find_spec("math_verify") is None:
        raise MissingExtra("math", "the math verifier uses math-verify")


@dataclass(frozen=True, slots=True)
class MathVerifier:
    extraction: str = DEFAULT_EXTRACTION

    def __call__(self, completion: str, item: Item) -> float:
        from datalint.grade.math_worker import math_call

        require_math_verify()
        golds = [g.strip() for g in gold_texts(item)]
        if not golds or not all(golds):
            raise GradingError("the item has an empty gold answer")
        whole = self.extraction in ("strict", "math-verify")
        answer = completion if whole else extracted_text(completion, self.extraction)
        if answer is None:
            return 0.0
        ok = math_call("verify", (golds, answer, not whole), call_budget())
        return 1.0 if ok else 0.0
