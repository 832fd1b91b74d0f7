"""The protocol every static check follows, and the factory that builds the ones rules ask for.

A static check sees each item once (``feed``) and may report more when the stream ends
(``finish``). It reports metric values to the :class:`~datalint.engine.Gate`, never findings:
whether a value is a problem is the rule's business. Checks keep compact signatures (hashes,
token ids, a Source) rather than items, so a million-line file streams in bounded memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from datalint.engine import Gate
from datalint.grade.settings import Grading
from datalint.load.records import Item, Source


class StaticCheck(Protocol):
    def feed(self, item: Item, gate: Gate) -> None: ...

    def finish(self, gate: Gate) -> None: ...


@dataclass(frozen=True, slots=True)
class StaticOptions:
    """Knobs of the static checks that are not rule thresholds."""

    probe_ngram: int = 8  # word n-gram length for probe contamination
    probe_char_ngram: int = 13  # character n-gram length for prompts shorter than probe_ngram words
    shingle_words: int = 2  # word shingle length for near-duplicates
    minhash_permutations: int = 128


@dataclass(frozen=True, slots=True)
class SkippedCheck:
    """Stands in for a check that cannot run here; ``note`` says why (the CLI prints it)."""

    note: str

    def feed(self, item: Item, gate: Gate) -> None:
        return None

    def finish(self, gate: Gate) -> None:
        return None


def skip_notes(checks: list[StaticCheck]) -> list[str]:
    """One line per check that was skipped, for stderr."""
    return [c.note for c in checks if isinstance(c, SkippedCheck)]


def describe_other(other: Source, here: Source) -> str:
    """Name another record from this one's point of view: "line 12" or "data/a.jsonl:12"."""
    return f"line {other.line}" if other.path == here.path else f"{other.path}:{other.line}"


def thresholds(gate: Gate, feature: str) -> list[float]:
    """The thresholds active rules hold on a metric (a check that prunes work needs to know)."""
    return [r.threshold for r in gate.rules if r.feature == feature]


def build_static_checks(
    gate: Gate,
    *,
    probe_items: list[Item] | None = None,
    options: StaticOptions | None = None,
    grading: Grading | None = None,
) -> list[StaticCheck]:
    """The static checks whose metrics an active rule reads, in a fixed order.

    Probe contamination is built only when probe items are given; the math-answer check becomes a
    :class:`SkippedCheck` when math-verify is not installed. ``grading`` (the default verifier
    and the config's verifier names) decides which verifier each item uses.
    """
    from datalint.static import (
        answer_leak,
        exact_duplicates,
        gold_answer,
        math_answer,
        near_duplicates,
        probe_contamination,
        prompt_length,
        verifier_names,
    )

    opts = options or StaticOptions()
    grading = grading or Grading()
    checks: list[StaticCheck] = []
    trusted = gate.wants(verifier_names.TRUSTED_FEATURE)
    usable = gate.wants(verifier_names.USABLE_FEATURE)
    if trusted or usable:
        checks.append(verifier_names.VerifierNames(grading, trusted=trusted, usable=usable))
    if gate.wants(gold_answer.FEATURE):
        checks.append(gold_answer.GoldAnswer(grading))
    if gate.wants(prompt_length.FEATURE):
        checks.append(prompt_length.PromptLength())
    if gate.wants(answer_leak.FEATURE):
        checks.append(answer_leak.AnswerLeak())
    if gate.wants(exact_duplicates.FEATURE):
        checks.append(exact_duplicates.ExactDuplicates())
    if gate.wants(near_duplicates.FEATURE):
        lowest = min(thresholds(gate, near_duplicates.FEATURE))
        checks.append(
            near_duplicates.NearDuplicates(
                min_similarity=lowest,
                shingle_words=opts.shingle_words,
                permutations=opts.minhash_permutations,
            )
        )
    if probe_items is not None and gate.wants(probe_contamination.FEATURE):
        checks.append(
            probe_contamination.ProbeContamination(
                probe_items, ngram=opts.probe_ngram, char_ngram=opts.probe_char_ngram
            )
        )
    if gate.wants(math_answer.FEATURE):
        checks.append(math_answer.build(grading))
    return checks
