"""The ``numeric`` verifier: numbers compared with a tolerance.

In the ``strict`` extraction mode the completion is taken as is (stripped, one trailing period
dropped) and must read as a single number: ``1,234``, ``-3/4``, ``1e-3``, ``+2.50``, ``50%`` are
numbers; ``85 junk`` is not and scores 0. Only when the whole text is not a number, the number
after the last answer marker (``answer is``, ``answer:``, ``####``, ``\\boxed{...}``) is used, so
chat-style completions work too. No marker, no number: 0.0. The other modes (``boxed``,
``gsm8k``, ``last-number``, ``math-verify``) read the answer as :mod:`.extract` says. A gold
answer that is not a number is a grading error; a list of golds accepts any of them.

Every pattern here is linear in the completion: whitespace runs are matched possessively
(``\\s*+``), so no run of spaces is tried at every split point.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from datalint.grade.base import GradingError, describe_gold, gold_answers
from datalint.grade.extract import extracted_text
from datalint.grade.settings import DEFAULT_EXTRACTION
from datalint.load.records import Item

_NUMBER = r"[-+]?+(?:\d{1,3}(?:,\d{3})++|\d++)?+(?:\.\d++)?+(?:[eE][-+]?+\d++)?+"
_FRACTION = re.compile(rf"({_NUMBER})\s*+/\s*+({_NUMBER})")
_PLAIN = re.compile(rf"({_NUMBER})\s*+(%?)")
_MARKED = re.compile(
    r"(?:answer\s*+(?:is|:)|####|\\boxed\{)\s*+\$?\s*+"
    r"([-+]?[\d.,]++(?:[eE][-+]?\d++)?(?:\s*+/\s*+[\d.]++)?)",
    re.IGNORECASE,
)


def _to_float(token: str) -> float | None:
    token = token.replace(",", "")
    if not token or not any(ch.isdigit() for ch in token):
        return None
    try:
        return float(token)
    except ValueError:
        return None


def parse_number(text: str) -> float | None:
    """The number ``text`` spells as a whole, or None. Handles 1,234 / 3/4 / 1e-3 / 50%."""
    text = text.strip()
    if text.endswith("."):
        text = text[:-1].rstrip()
    if m := _FRACTION.fullmatch(text):
        num, den = _to_float(m.group(1)), _to_float(m.group(2))
        if num is None or den is None or den == 0:
            return None
        return num / den
    if m := _PLAIN.fullmatch(text):
        value = _to_float(m.group(1))
        if value is None:
            return None
        return value / 100 if m.group(2) else value
    return None


def extract_number(completion: str) -> float | None:
    """The completion as one number, else the number after its last answer marker."""
    whole = parse_number(completion)
    if whole is not None:
        return whole
    last = None
    for m in _MARKED.finditer(completion):
        last = m.group(1)
    return parse_number(last.rstrip(".,")) if last is not None else None


def answer_number(completion: str, extraction: str = DEFAULT_EXTRACTION) -> float | None:
    """The number a completion answers under an extraction mode (not ``math-verify``)."""
    if extraction == "strict":
        return extract_number(completion)
    text = extracted_text(completion, extraction)
    return parse_number(text) if text is not None else None


def gold_numbers(item: Item) -> list[float]:
    """The accepted gold numbers; raises GradingError when one of them is not a number."""
    out = []
    for gold in gold_answers(item):
        value = (
            float(gold)
            if isinstance(gold, int | float) and not isinstance(gold, bool)
            else parse_number(str(gold))
        )
        if value is None or not math.isfinite(value):
            raise GradingError(f"gold answer {describe_gold(item)!r} is not a number")
        out.append(value)
    if not out:
        raise GradingError("the item has no gold answer")
    return out


@dataclass(frozen=True, slots=True)
class NumericVerifier:
    rel_tol: float = 1e-6
    abs_tol: float = 1e-9
    extraction: str = DEFAULT_EXTRACTION

    def __call__(self, completion: str, item: Item) -> float:
        golds = gold_numbers(item)
        if self.extraction == "math-verify":
            from datalint.grade.math_verifier import MathVerifier

            return MathVerifier(extraction="math-verify")(completion, item)
        answer = answer_number(completion, self.extraction)
        if answer is None:
            return 0.0
        ok = any(math.isclose(answer, g, rel_tol=self.rel_tol, abs_tol=self.abs_tol) for g in golds)
        return 1.0 if ok else 0.0
