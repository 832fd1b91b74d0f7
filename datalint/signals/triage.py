"""Dead-end triage: why every rollout of an item failed, or why every one passed.

A dead end (pass rate 0 or 1) gives GRPO no gradient, but the reasons differ and so do the fixes.
Per item with at least :data:`MIN_ROLLOUTS` graded rollouts this computes, from each rollout's
answer as its verifier reads it (:func:`datalint.grade.answers.answer_key`), the metrics that the
RW2xx rules hold thresholds on (the Great Expectations split: nothing here knows a threshold):

Failed by every rollout (no reward >= 0.5):
    ``dead_end_parseable_share``  rollouts that give an answer the verifier can read / rollouts
                                  (RW202 format failure when it is 0)
    ``dead_end_majority_share``   rollouts giving the most common answer / rollouts; observed
                                  only when some rollout gives an answer (RW201 likely wrong
                                  gold when most agree, RW203 too hard when they scatter)
Solved by every rollout (every reward >= 0.5):
    ``solved_leak_share``         1.0 when the prompt states the gold answer as its answer
                                  (D004's test, :func:`datalint.static.answer_leak.stated_answer`),
                                  else the share of the prompt's n-grams found in a probe item
                                  with the same gold answer (D003's n-gram index), else 0
                                  (RW204 leaked when high, RW205 mastered otherwise)

Message context keys: ``n_rollouts``, ``n_parseable``, ``n_agree``, ``n_distinct``, ``answer``
(the most common answer, cut to 40 characters), ``gold``, ``verifier``, ``extraction`` (how the
answers were read), ``sample`` (the start of one completion), ``where`` (where a leaked answer
was found).
Work per item is linear in its completions: one extraction each, one dictionary count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from datalint.engine import Gate
from datalint.grade.answers import UNSUPPORTED, Answer, answer_key
from datalint.grade.base import describe_gold
from datalint.grade.registry import verifier_name
from datalint.grade.settings import Grading
from datalint.grade.text import normalize_text
from datalint.load.records import Item, Rollout
from datalint.static.answer_leak import stated_answer
from datalint.static.probe_contamination import ProbeContamination

PARSEABLE = "dead_end_parseable_share"
MAJORITY = "dead_end_majority_share"
LEAK = "solved_leak_share"
FEATURES = (PARSEABLE, MAJORITY, LEAK)
MIN_ROLLOUTS = 2  # agreement is a relation between rollouts: one rollout says nothing about it
PASS = 0.5
_SAMPLE_CHARS = 40


class ProbeAnswers:
    """D003's n-gram index over the probe prompts, with each probe's gold answers."""

    def __init__(self, probe_items: Sequence[Item], *, ngram: int = 8, char_ngram: int = 13):
        self._index = ProbeContamination(probe_items, ngram=ngram, char_ngram=char_ngram)
        self._golds = [_gold_set(p) for p in probe_items]

    def same_answer_overlap(self, item: Item) -> tuple[float, str] | None:
        """The largest share of the item's n-grams found in one probe item that has the same
        gold answer, and that probe's location; None when no such probe overlaps."""
        found = self._index.overlaps(item)
        if found is None:
            return None
        hits, total, _unit = found
        golds = _gold_set(item)
        best: tuple[float, int] | None = None
        for probe, matched in hits.items():
            if not golds & self._golds[self._index.probe_position(probe)]:
                continue
            share = matched / total
            if best is None or share > best[0] or (share == best[0] and probe < best[1]):
                best = (share, probe)
        if best is None:
            return None
        return best[0], str(self._index.source_of(best[1]))


def triage_item(
    item: Item,
    rollouts: Sequence[Rollout],
    gate: Gate,
    *,
    grading: Grading,
    cohort: str | None,
    probe: ProbeAnswers | None = None,
) -> None:
    """Observes the triage metric of one graded item (``rollouts`` carry their rewards)."""
    graded = [r for r in rollouts if r.reward is not None]
    if len(graded) < MIN_ROLLOUTS:
        return
    rewards = [float(r.reward) for r in graded]  # type: ignore[arg-type]
    if all(r >= PASS for r in rewards):
        if gate.wants(LEAK):
            _observe_solved(item, len(graded), gate, cohort, probe)
    elif all(r < PASS for r in rewards) and (gate.wants(PARSEABLE) or gate.wants(MAJORITY)):
        _observe_failed(item, graded, gate, grading, cohort)


def _observe_failed(
    item: Item, graded: list[Rollout], gate: Gate, grading: Grading, cohort: str | None
) -> None:
    counts: Counter[bytes] = Counter()
    shown: dict[bytes, str] = {}
    for rollout in graded:
        answer = answer_key(item, rollout.completion, grading)
        if answer is UNSUPPORTED:
            return  # a plug-in verifier: no extraction to compare answers with
        if isinstance(answer, Answer):
            counts[answer.key] += 1
            shown.setdefault(answer.key, answer.shown)
    n = len(graded)
    n_parseable = sum(counts.values())
    verifier = verifier_name(item, grading.default_verifier)
    context = {
        "cohort_id": cohort,
        "n_rollouts": n,
        "n_parseable": n_parseable,
        "n_distinct": len(counts),
        "gold": _cut(describe_gold(item)),
        "verifier": verifier,
        "extraction": _reading(verifier, grading.extraction),
        "sample": _cut(" ".join(graded[0].completion[: _SAMPLE_CHARS * 4].split())) or "(empty)",
    }
    gate.observe(PARSEABLE, n_parseable / n, item.source, cohort=cohort, **context)
    if not counts:
        return
    top = min(counts, key=lambda key: (-counts[key], shown[key]))
    gate.observe(
        MAJORITY,
        counts[top] / n,
        item.source,
        cohort=cohort,
        n_agree=counts[top],
        answer=shown[top],
        **context,
    )


def _observe_solved(
    item: Item, n: int, gate: Gate, cohort: str | None, probe: ProbeAnswers | None
) -> None:
    value, where = 0.0, "in neither the prompt nor the probe"
    if stated_answer(item):
        value, where = 1.0, "stated in the prompt"
    elif probe is not None and (found := probe.same_answer_overlap(item)) is not None:
        value, where = found[0], f"in probe item {found[1]} (same answer)"
    gate.observe(
        LEAK,
        value,
        item.source,
        cohort=cohort,
        cohort_id=cohort,
        n_rollouts=n,
        gold=_cut(describe_gold(item)),
        where=where,
    )


def _reading(verifier: str, mode: str) -> str:
    """How the verifier read the answers, for messages (the mode applies to numeric and math)."""
    return f"{mode} extraction" if verifier in ("numeric", "math") else "the whole completion"


def _gold_set(item: Item) -> set[str]:
    return {normalize_text(a.strip().strip("$")) for a in item.answers if a.strip()}


def _cut(text: str) -> str:
    return text[:_SAMPLE_CHARS] + ("..." if len(text) > _SAMPLE_CHARS else "")
