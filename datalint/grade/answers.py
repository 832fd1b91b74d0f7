"""The answer a completion gives, read the way its item's verifier reads it, as a short key.

Dead-end triage compares the answers of an item's rollouts with each other (do they agree on one
answer? do they give any answer at all?), so it needs each rollout's answer, not only its reward.
Each built-in verifier's own extraction decides (every one of them linear in the completion):

- ``numeric``: the number :func:`~datalint.grade.numeric.answer_number` reads under the extraction
  mode; equal numbers are one answer ("35" and "35.0").
- ``mcq``: the letter :func:`~datalint.grade.mcq.chosen_letter` reads.
- ``exact`` / ``regex``: the whole completion, normalised (``exact`` compares it whole). When
  every gold answer is a number, a completion that does not read as one ("The answer is 35.") is
  not an answer in the gold's format: that is the format failure this exists to find.
- ``math``: the text :mod:`.extract` takes out (``boxed``, ``gsm8k``, ``last-number``); in the
  ``strict`` / ``math-verify`` modes the last ``\\boxed{...}``, else the last number, which is
  where math-verify's own extraction looks first (an approximation: no math-verify call is spent
  on it). ``numeric`` under ``math-verify`` reads the same way.

Any other verifier (a plug-in) has no extraction datalint knows: :func:`answer_key` returns
:data:`UNSUPPORTED` and triage says nothing about its items. Keys are digests, so k long
completions cost k short keys; :class:`Answer` keeps the first characters for messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import blake2b
from typing import Final

from datalint.grade.base import gold_answers
from datalint.grade.extract import extracted_text, last_boxed, last_number
from datalint.grade.mcq import chosen_letter
from datalint.grade.numeric import answer_number, parse_number
from datalint.grade.registry import verifier_name
from datalint.grade.settings import Grading
from datalint.grade.text import normalize_text
from datalint.load.records import Item

SHOWN_CHARS = 40  # of an answer, in messages


@dataclass(frozen=True, slots=True)
class Answer:
    key: bytes  # identity: two rollouts agree when their keys are equal
    shown: str  # its first SHOWN_CHARS characters, for messages


class _Unsupported:
    def __repr__(self) -> str:
        return "UNSUPPORTED"


UNSUPPORTED: Final = _Unsupported()


def answer_key(item: Item, completion: str, grading: Grading) -> Answer | _Unsupported | None:
    """The answer ``completion`` gives under ``item``'s verifier; None when it gives none that
    verifier can read; :data:`UNSUPPORTED` for a verifier without a known extraction."""
    name = verifier_name(item, grading.default_verifier)
    mode = grading.extraction
    if name == "numeric":
        if mode == "math-verify":
            text = _math_text(completion)
            number = parse_number(text) if text is not None else None
        else:
            number = answer_number(completion, mode)
        return None if number is None else _answer(repr(float(number)), _number_text(number))
    if name == "mcq":
        letter = chosen_letter(completion, item.choices)
        return None if letter is None else _answer(letter, letter)
    if name in ("exact", "regex"):
        text = normalize_text(completion) if name == "exact" else completion.strip()
        if not text:
            return None
        if name == "exact" and _numeric_gold(item) and parse_number(text) is None:
            return None
        return _answer(text, text)
    if name == "math":
        if mode in ("strict", "math-verify"):
            found = _math_text(completion)
        else:
            found = extracted_text(completion, mode)
        found = "".join(found.split()) if found is not None else None
        return _answer(found, found) if found else None
    return UNSUPPORTED


def _math_text(completion: str) -> str | None:
    boxed = last_boxed(completion)
    return boxed if boxed is not None else last_number(completion)


def _numeric_gold(item: Item) -> bool:
    golds = gold_answers(item)
    return bool(golds) and all(
        (isinstance(g, int | float) and not isinstance(g, bool)) or parse_number(str(g)) is not None
        for g in golds
    )


def _number_text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e15 else repr(number)


def _answer(identity: str, shown: str) -> Answer:
    digest = blake2b(identity.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    cut = shown[:SHOWN_CHARS] + ("..." if len(shown) > SHOWN_CHARS else "")
    return Answer(digest, cut)
