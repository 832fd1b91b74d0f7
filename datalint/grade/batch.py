"""Grade every rollout of many items, turning verifier failures into per-item records."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from datalint.grade.budget import item_budget
from datalint.grade.registry import grade, verifier_name
from datalint.grade.settings import Grading
from datalint.load.records import Item, Rollout, Source


@dataclass(frozen=True, slots=True)
class VerifierFailure:
    """Rollouts of one item that its verifier could not score (they get no reward)."""

    item_index: int
    source: Source
    verifier: str
    n_failed: int
    n_rollouts: int
    message: str  # the first failure's message


@dataclass(frozen=True, slots=True)
class RewardMismatch:
    """Replayed rollouts of one item whose claimed reward the verifier does not confirm."""

    item_index: int
    source: Source
    n_mismatched: int
    n_claimed: int
    claimed: float  # the first mismatch: what the data said
    graded: float  # and what the verifier gave


@dataclass(slots=True)
class Grades:
    rewards: list[list[float]]
    failures: list[VerifierFailure]
    mismatches: list[RewardMismatch]


def grade_items(
    items: Sequence[Item],
    rollouts: Sequence[Sequence[Rollout]],
    *,
    grading: Grading | None = None,
) -> Grades:
    """Rewards of each item's rollouts, the items whose verifier failed, and replayed rewards
    that the verifier does not confirm.

    Every rollout is graded by the item's verifier and its ``reward`` set to the result: a reward
    a rollout already carries (replayed data) is a claim, never a verdict; each item whose claims
    disagree with the grades gets one :class:`RewardMismatch`. A rollout whose verifier raises
    gets no reward and is left out of the item's list, as trl leaves unscorable completions out
    of the group baseline; one :class:`VerifierFailure` per item then says how many failed and
    why. Each item's grading shares one time budget
    (:data:`datalint.grade.budget.PER_ITEM_SECONDS`), so a hostile item costs seconds, not
    minutes. Never raises.
    """
    grading = grading or Grading()
    all_rewards: list[list[float]] = []
    failures: list[VerifierFailure] = []
    mismatches: list[RewardMismatch] = []
    for index, (item, item_rollouts) in enumerate(zip(items, rollouts, strict=True)):
        rewards: list[float] = []
        first_error: str | None = None
        n_failed = n_claimed = n_mismatched = 0
        first_mismatch: tuple[float, float] | None = None
        with item_budget():
            for rollout in item_rollouts:
                claimed, rollout.reward = rollout.reward, None
                try:
                    graded = float(grade(item, rollout.completion, grading))
                except Exception as exc:  # any verifier bug is this item's finding, not a crash
                    n_failed += 1
                    if first_error is None:
                        first_error = str(exc) or type(exc).__name__
                    continue  # an ungradable claim is S011's finding, not a mismatch
                rollout.reward = graded
                rewards.append(graded)
                if claimed is not None:
                    n_claimed += 1
                    if not _same_reward(claimed, graded):
                        n_mismatched += 1
                        first_mismatch = first_mismatch or (claimed, graded)
        all_rewards.append(rewards)
        if first_mismatch is not None:
            mismatches.append(
                RewardMismatch(index, item.source, n_mismatched, n_claimed, *first_mismatch)
            )
        if n_failed:
            failures.append(
                VerifierFailure(
                    item_index=index,
                    source=item.source,
                    verifier=verifier_name(item, grading.default_verifier),
                    n_failed=n_failed,
                    n_rollouts=len(item_rollouts),
                    message=first_error or "",
                )
            )
    return Grades(all_rewards, failures, mismatches)


def _same_reward(claimed: float, graded: float) -> bool:
    return math.isfinite(claimed) and abs(claimed - graded) <= 1e-6
