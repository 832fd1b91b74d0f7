"""The ``numeric`` verifier: numbers compared with a tolerance.

The completion is taken as is (stripped, one trailing period dropped) and must read as a single
number: ``1,234``, ``-3/4``, ``1e-3``, ``+2.50``, ``50%`` are numbers; ``85 junk`` is not and
scores 0. Only when the whole text is not a number, the number after the last answer marker
(``answer is``, ``answer:``, ``####``, ``\\boxed{...}``) is used, so chat-style completions work
too. No marker, no number: 0.0. A gold answer that is not a number is a grading error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from datalint.grade.base import GradingError
from datalint.load.records import Item

_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?"
_FRACTION = re.compile(rf"\s*({_NUMBER})\s*/\s*({_NUMBER})\s*")
_PLAIN = re.compile(rf"\s*({_NUMBER})\s*(%?)\s*")
_MARKED = re.compile(
    r"(?:answer\s*(?:is|:)|####|\\boxed\{)\s*\$?\s*([-+]?[\d.,]+(?:[eE][-+]?\d+)?(?:\s*/\s*[\d.]+)?)",
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
        text = text[:-1]
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
    marked = _MARKED.findall(completion)
    return parse_number(marked[-1].rstrip(".,")) if marked else None


@dataclass(frozen=True, slots=True)
class NumericVerifier:
    rel_tol: float = 1e-6
    abs_tol: float = 1e-9

    def __call__(self, completion: str, item: Item) -> float:
        gold = item.answer
        if not isinstance(gold, int | float):
            gold = parse_number(str(gold))
        if gold is None or isinstance(gold, bool) or not math.isfinite(float(gold)):
            raise GradingError(f"gold answer {item.answer_text!r} is not a number")
        answer = extract_number(completion)
        if answer is None:
            return 0.0
        ok = math.isclose(answer, float(gold), rel_tol=self.rel_tol, abs_tol=self.abs_tol)
        return 1.0 if ok else 0.0
