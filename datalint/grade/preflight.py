"""What can be said about an item's grading before any rollout: does its verifier name point at
code the user installed or configured, can that verifier use the item, can its gold answer be
verified at all. Cheap, imports nothing the data names; the static checks S012, S013 and S014
report these, and the pipelines leave such items out of sampling."""

from __future__ import annotations

from dataclasses import dataclass

from datalint.grade.base import GradingError, gold_answers, gold_texts
from datalint.grade.mcq import gold_letter
from datalint.grade.numeric import gold_numbers
from datalint.grade.registry import classify, known_names, verifier_name
from datalint.grade.settings import Grading
from datalint.load.records import Item

# NuminaMath-1.5 marks proofs and answers it could not find with these instead of an answer.
PLACEHOLDER_ANSWERS = frozenset({"proof", "notfound", "not found"})


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # "untrusted-verifier" | "unusable-verifier" | "unverifiable-gold"
    verifier: str
    reason: str


def verifier_problem(item: Item, grading: Grading) -> Problem | None:
    """An S012 (import string in the data) or S014 (no such verifier; mcq it cannot use)."""
    name = verifier_name(item, grading.default_verifier)
    kind = classify(name, grading)
    if kind == "import-string":
        return Problem(
            "untrusted-verifier",
            name,
            "the data names code to import; only built-ins, installed entry points and names "
            "under [verifiers] in your config are used",
        )
    if kind == "unknown":
        known = ", ".join(known_names(grading))
        return Problem("unusable-verifier", name, f"no verifier has this name (known: {known})")
    if name == "mcq":
        return _mcq_problem(item, name)
    return None


def _mcq_problem(item: Item, name: str) -> Problem | None:
    for gold in gold_texts(item):
        letter = gold.strip().strip("().:")
        if not item.choices and len(letter) == 1 and letter.isalpha():
            return Problem(
                "unusable-verifier",
                name,
                f"the gold answer {gold!r} is an option letter but the item has no 'choices'",
            )
        try:
            gold_letter(gold, item.choices)
        except GradingError as exc:
            return Problem("unusable-verifier", name, str(exc))
    return None


def gold_problem(item: Item, grading: Grading) -> Problem | None:
    """An S013: no gold answer a verifier could check against (empty, `proof`, `notfound`, or
    a `numeric` item whose gold is not a number)."""
    name = verifier_name(item, grading.default_verifier)
    golds = gold_answers(item)
    if not golds:
        return Problem("unverifiable-gold", name, "the item has no gold answer")
    for gold in golds:
        text = str(gold).strip()
        if not text:
            return Problem("unverifiable-gold", name, "the gold answer is empty")
        if text.casefold() in PLACEHOLDER_ANSWERS:
            return Problem(
                "unverifiable-gold",
                name,
                f"the gold answer is {text!r}, a placeholder, not an answer to check against",
            )
    if name == "numeric":
        try:
            gold_numbers(item)
        except GradingError as exc:
            return Problem("unverifiable-gold", name, str(exc))
    return None


def problem(item: Item, grading: Grading) -> Problem | None:
    """The first reason this item cannot be graded, or None when it can be sampled."""
    return verifier_problem(item, grading) or gold_problem(item, grading)
