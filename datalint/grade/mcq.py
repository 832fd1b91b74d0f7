"""The ``mcq`` verifier: the letter the completion chose against the gold letter.

A completion chooses a letter when it is the letter alone (``B``, ``(B)``, ``B.``, ``B)``), when an
answer marker names it (``Answer: B``, ``the answer is (b).``; the last marker wins), when it
starts with a labelled option (``B) 42``), or when its whole text equals one of the item's
``choices``. A lower-case letter after a marker counts only when nothing but punctuation follows
it, so "the answer is a prime" does not read as option A. The gold answer is a letter or the text
of one of ``choices``; a list of golds accepts any of them.
"""

from __future__ import annotations

import re
import string

from datalint.grade.base import GradingError, gold_texts
from datalint.grade.text import normalize_text
from datalint.load.records import Item

_ALONE = re.compile(r"\(?([A-Za-z])\)?[.:)]?")
# Possessive \s*+: no run of spaces is retried at every split point (linear, not quadratic).
_MARKER = re.compile(
    r"(?i:answer\s*+(?:is\s*+)?(?:option\s*+)?)[:\-]?\s*+\(?"
    r"(?:([A-Z])\b|([a-z])(?=\)?\s*+[.,;!]?\s*+$))"
)
_LABELLED = re.compile(r"\(?([A-Z])[).:]\s")


def _letter_alone(text: str) -> str | None:
    m = _ALONE.fullmatch(text.strip())
    return m.group(1).upper() if m else None


def chosen_letter(completion: str, choices: list[str] | None = None) -> str | None:
    """The option letter a completion picked, or None when it picked none."""
    if letter := _letter_alone(completion):
        return letter
    last = None
    for match in _MARKER.finditer(completion):  # the last marker wins
        last = match
    if last is not None:
        return (last.group(1) or last.group(2)).upper()
    if m := _LABELLED.match(completion.strip()):
        return m.group(1)
    if choices:
        wanted = normalize_text(completion)
        for index, choice in enumerate(choices):
            if normalize_text(choice) == wanted:
                return string.ascii_uppercase[index]
    return None


def gold_letter(gold: str, choices: list[str] | None) -> str:
    """The option letter a gold answer names (a letter, or the text of one of ``choices``)."""
    letter = _letter_alone(gold)
    if letter and (not choices or ord(letter) - ord("A") < len(choices)):
        return letter
    for index, choice in enumerate(choices or []):
        if normalize_text(choice) == normalize_text(gold):
            return string.ascii_uppercase[index]
    raise GradingError(f"gold answer {gold!r} is neither an option letter nor one of the choices")


def gold_letters(item: Item) -> set[str]:
    """The accepted letters of an item (a list gold accepts any of them)."""
    golds = gold_texts(item)
    if not golds:
        raise GradingError("the item has no gold answer")
    return {gold_letter(gold, item.choices) for gold in golds}


def mcq(completion: str, item: Item) -> float:
    golds = gold_letters(item)
    return 1.0 if chosen_letter(completion, item.choices) in golds else 0.0
