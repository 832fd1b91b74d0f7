"""The ``mcq`` verifier: the letter the completion chose against the gold letter.

A completion chooses a letter when it is the letter alone (``B``, ``(B)``, ``B.``, ``B)``), when an
answer marker names it (``Answer: B``, ``the answer is (b).``), when it starts with a labelled
option (``B) 42``), or when its whole text equals one of the item's ``choices``. A lower-case
letter after a marker counts only when nothing but punctuation follows it, so "the answer is a
prime" does not read as option A. The gold answer is a letter or the text of one of ``choices``.
"""

from __future__ import annotations

import re
import string

from datalint.grade.base import GradingError
from datalint.grade.text import normalize_text
from datalint.load.records import Item

_ALONE = re.compile(r"\(?([A-Za-z])\)?[.:)]?")
_MARKER = re.compile(
    r"(?i:answer\s*(?:is\s*)?(?:option\s*)?)[:\-]?\s*\(?"
    r"(?:([A-Z])\b|([a-z])(?=\)?\s*[.,;!]?\s*$))"
)
_LABELLED = re.compile(r"\(?([A-Z])[).:]\s")


def _letter_alone(text: str) -> str | None:
    m = _ALONE.fullmatch(text.strip())
    return m.group(1).upper() if m else None


def chosen_letter(completion: str, choices: list[str] | None = None) -> str | None:
    """The option letter a completion picked, or None when it picked none."""
    if letter := _letter_alone(completion):
        return letter
    marked = list(_MARKER.finditer(completion))
    if marked:
        return (marked[-1].group(1) or marked[-1].group(2)).upper()
    if m := _LABELLED.match(completion.strip() + " "):
        return m.group(1)
    if choices:
        wanted = normalize_text(completion)
        for index, choice in enumerate(choices):
            if normalize_text(choice) == wanted:
                return string.ascii_uppercase[index]
    return None


def gold_letter(item: Item) -> str:
    gold = item.answer_text
    letter = _letter_alone(gold)
    if letter and (not item.choices or ord(letter) - ord("A") < len(item.choices)):
        return letter
    for index, choice in enumerate(item.choices or []):
        if normalize_text(choice) == normalize_text(gold):
            return string.ascii_uppercase[index]
    raise GradingError(f"gold answer {gold!r} is neither an option letter nor one of the choices")


def mcq(completion: str, item: Item) -> float:
    gold = gold_letter(item)
    return 1.0 if chosen_letter(completion, item.choices) == gold else 0.0
