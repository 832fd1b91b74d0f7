"""Grade every rollout of many items, turning verifier failures into per-item records."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from datalint.grade.budget import item_budget
from datalint.grade.registry import grade, verifier_name
from datalint.grade.settings import Grading
from datalint.records import Item, Rollout, Source


@dataclass(frozen=True, slots=True)
class VerifierFailure:
    """Rollouts of one item that its verifier could not score (they get no reward)."""

    item_index: int
    source: Source
    verifier: str
    n_failed: int
    n_rollouts: int
    message: str  # the first failure's message


def grade_items(
    items: Sequence[Item],
    rollouts: Sequence[Sequence[Rollout]],
    *,
    grading: Grading | None = None,
) -> tuple[list[list[float]], list[VerifierFailure]]:
    """Rewards of each item's rollouts, and the items whose verifier failed.

    A rollout that already carries a finite reward (replayed data) keeps it; the others are graded
    and their ``reward`` is filled in. A rollout whose verifier raises (or whose replayed reward
    is NaN or infinite) gets no reward and is left out of that item's list, as trl leaves
    unscorable completions out of the group baseline; one :class:`VerifierFailure` per item then
    says how many failed and why. Each item's grading shares one time budget
    (:data:`datalint.grade.budget.PER_ITEM_SECONDS`), so a hostile item costs seconds, not
    minutes. Never raises.
    """
    grading = grading or Grading()
    all_rewards: list[list[float]] = []
    failures: list[VerifierFailure] = []
    for index, (item, item_rollouts) in enumerate(zip(items, rollouts, strict=True)):
        rewards: list[float] = []
        first_error: str | None = None
        n_failed = 0
        with item_budget():
            for rollout in item_rollouts:
                if rollout.reward is not None and not math.isfinite(rollout.reward):
                    n_failed += 1
                    first_error = first_error or f"replayed reward {rollout.reward} is not a number"
                    continue
                if rollout.reward is None:
                    try:
                        rollout.reward = grade(item, rollout.completion, grading)
                    except Exception as exc:  # any verifier bug is this item's finding, not a crash
                        n_failed += 1
                        if first_error is None:
                            first_error = str(exc) or type(exc).__name__
                        continue
                rewards.append(float(rollout.reward))
        all_rewards.append(rewards)
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
    return all_rewards, failures
