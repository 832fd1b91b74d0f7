"""Adaptive k: a few rollouts per problem first, the full group only where the outcome is open.

The rule (justified in docs/features.md, "Adaptive k"): sample ``first`` rollouts (2) of every
item and grade them. If they agree (all pass or all fail) the item stops there; if they
disagree the item is certainly non-degenerate, and its pass rate is what the features need, so
it gets the full ``params.n`` group. The full group is requested with the very sampling
parameters of fixed k, so it is the fixed-k cache row (shared both ways with fixed-k runs), and
on a prefix-stable backend (transformers: rollout j's seed is ``sample_seed(item_seed, j)``
whatever n) its first rollouts are the ones already drawn. The first stage has its own cache
rows (``n=2``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from datalint.features import PASS_THRESHOLD
from datalint.grade import Grading, grade_items
from datalint.load.records import Item, Rollout
from datalint.rollout.base import SamplingParams

FIRST_STAGE = 2

Obtain = Callable[[list[Item], SamplingParams], list[list[Rollout]]]


@dataclass(slots=True)
class AdaptiveBudget:
    """What adaptive k spent: per item the group it kept and the rollouts generated for it."""

    first: int
    full: int
    kept: list[int] = field(default_factory=list)  # rollouts per item in its group
    spent: list[int] = field(default_factory=list)  # rollouts sampled (or read) for the item

    @property
    def rule(self) -> str:
        return f"adaptive: {self.first} per item, {self.full} where the first {self.first} disagree"

    def weight(self, index: int) -> int:
        """What the item's rollouts count for in the pooled features: a group that stopped
        early stands for the full group (see :attr:`datalint.features.Group.weight`)."""
        kept = self.kept[index]
        return self.full // kept if 0 < kept == self.first < self.full else 1

    def provenance(self, indices: range | list[int]) -> dict[str, object]:
        kept = [self.kept[i] for i in indices]
        return {
            "rule": self.rule,
            "rollouts_per_item": kept,
            "rollouts_spent": sum(self.spent[i] for i in indices),
            "items_grown": sum(1 for k in kept if k >= self.full),
        }


def outcome_open(rewards: list[float]) -> bool:
    """Whether the graded rollouts disagree (some pass, some fail)."""
    passed = [r >= PASS_THRESHOLD for r in rewards]
    return any(passed) and not all(passed)


def adaptive_rollouts(
    items: list[Item],
    params: SamplingParams,
    obtain: Obtain,
    grading: Grading,
    *,
    first: int = FIRST_STAGE,
) -> tuple[list[list[Rollout]], AdaptiveBudget]:
    """Each item's rollouts under the adaptive rule, and the budget spent.

    ``obtain(items, params)`` is the rollout stage (cache, backend); an item it answers with no
    rollouts (unreadable) or with rollouts of another size (replayed) is taken as it comes.
    """
    budget = AdaptiveBudget(first=min(first, params.n), full=params.n)
    if budget.first >= params.n:
        rollouts = obtain(items, params)
        budget.kept = [len(r) for r in rollouts]
        budget.spent = list(budget.kept)
        return rollouts, budget
    stage = dataclasses.replace(params, n=budget.first)
    results = obtain(items, stage)
    grades = grade_items(items, results, grading=grading)
    grow = []
    for index, (rollouts, rewards) in enumerate(zip(results, grades.rewards, strict=True)):
        for rollout in rollouts:  # the reward stage grades them again, from scratch
            rollout.reward = None
        if len(rollouts) == budget.first and outcome_open(rewards):
            grow.append(index)
    budget.spent = [len(r) for r in results]
    if grow:
        full = obtain([items[i] for i in grow], params)
        for index, rollouts in zip(grow, full, strict=True):
            results[index] = rollouts
            budget.spent[index] += len(rollouts)
    budget.kept = [len(r) for r in results]
    return results, budget
