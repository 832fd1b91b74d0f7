"""Adaptive k: a few rollouts per problem first, more only where the full group's outcome is open.

The rule (justified in docs/features.md, "Adaptive k"): sample ``first`` rollouts (2) of every
item and grade them; fit a Beta prior on the items' pass rates to those first-stage grades
(empirical Bayes, method of moments); then grow in stages (2 -> 4 -> 8, doubling up to the full
``params.n``) the items whose full group could still turn out otherwise than it looks: an item
whose rollouts all agree grows while the posterior chance that its full group would not be
all-agreeing is above ``OPEN_ABOVE``, most open first, as long as the total stays within the
budget (a share of what fixed k spends). An item whose rollouts disagree already is certainly
not degenerate at full k, and stops. A stopped group stands for its full group: the features read
its unseen rollouts through the beta-binomial posterior (:class:`datalint.features.Unseen`).

Every request is a whole group with the sampling parameters of fixed k but for ``n``, so the full
group is the fixed-k cache row (shared both ways with fixed-k runs). On a prefix-stable backend
(transformers: rollout j's seed is ``sample_seed(item_seed, j)`` whatever n) a stage generates
only the rollouts an item lacks, and the group it grows to is the one fixed k draws; other
backends sample each stage's group anew, and the budget counts that. Each stage size has its own
cache rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from math import comb, exp, lgamma
from typing import Protocol

from datalint.features import PASS_THRESHOLD, Group, Unseen
from datalint.grade import Grading, grade_items
from datalint.load.records import Item, Rollout
from datalint.rollout.base import SamplingParams

FIRST_STAGE = 2
BUDGET = 0.5  # of fixed k's rollouts
OPEN_ABOVE = 0.05  # grow an agreeing item while P(its full group disagrees) is above this
RHO_RANGE = (0.01, 0.99)  # the intra-item correlation 1 / (a + b + 1) the prior may take


class Obtain(Protocol):
    """The rollout stage (cache, backend); ``prefixes``: the rollouts each item already has."""

    def __call__(
        self,
        items: list[Item],
        params: SamplingParams,
        prefixes: list[list[Rollout]] | None = None,
    ) -> list[list[Rollout]]: ...


def _log_beta(a: float, b: float) -> float:
    return lgamma(a) + lgamma(b) - lgamma(a + b)


@dataclass(frozen=True, slots=True)
class BetaPrior:
    """Beta(a, b) on an item's pass probability."""

    a: float
    b: float

    @classmethod
    def fit(cls, passes: list[int], n: int) -> BetaPrior:
        """Method of moments on items graded n times each, ``passes`` per item.

        Mean m = (total passes + 1/2) / (n * items + 1) (half a pseudo-pass keeps it inside
        (0, 1)); the pass shares' population variance v over items gives the intra-item
        correlation rho = (n v / (m (1 - m)) - 1) / (n - 1), clipped to ``RHO_RANGE``, and
        a + b = 1 / rho - 1. With n = 1 (or no item) rho is not identified: a + b = 1.
        """
        mean = (sum(passes) + 0.5) / (n * len(passes) + 1)
        if n < 2 or not passes:
            rho = 0.5
        else:
            shares = [s / n for s in passes]
            centre = sum(shares) / len(shares)
            variance = sum((x - centre) ** 2 for x in shares) / len(shares)
            rho = (n * variance / (mean * (1 - mean)) - 1) / (n - 1)
            rho = min(max(rho, RHO_RANGE[0]), RHO_RANGE[1])
        total = 1 / rho - 1
        return cls(mean * total, (1 - mean) * total)

    def unseen(self, passes: int, graded: int, rest: int) -> Unseen:
        """The beta-binomial posterior predictive of ``rest`` more rollouts after ``passes`` of
        ``graded``: P(j pass) = C(rest, j) B(a + s + j, b + f + rest - j) / B(a + s, b + f)."""
        a, b = self.a + passes, self.b + graded - passes
        base = _log_beta(a, b)
        return Unseen(
            tuple(
                comb(rest, j) * exp(_log_beta(a + j, b + rest - j) - base) for j in range(rest + 1)
            )
        )


def passes(rewards: list[float]) -> int:
    """How many graded rollouts pass (reward >= 0.5)."""
    return sum(1 for r in rewards if r >= PASS_THRESHOLD)


def agreeing_side(rewards: list[float]) -> bool | None:
    """True if every graded rollout passes, False if every one fails, None if they disagree
    (or there are none)."""
    passed = passes(rewards)
    if not rewards or 0 < passed < len(rewards):
        return None
    return passed == len(rewards)


def chance_open(prior: BetaPrior, rewards: list[float], full: int) -> float:
    """P(the full group would not all agree | these rewards): 1 if they disagree already."""
    side = agreeing_side(rewards)
    if side is None:
        return 1.0
    chances = prior.unseen(passes(rewards), len(rewards), full - len(rewards)).chances
    return 1.0 - (chances[-1] if side else chances[0])


def stage_sizes(first: int, full: int) -> list[int]:
    """first, 2 first, 4 first, ... below full, then full."""
    sizes = [first]
    while sizes[-1] < full:
        sizes.append(min(2 * sizes[-1], full))
    return sizes


@dataclass(slots=True)
class AdaptiveBudget:
    """What adaptive k spent: per item the group it kept and the rollouts generated for it."""

    first: int
    full: int
    budget: float = BUDGET
    prior: BetaPrior | None = None  # fitted on the first stage
    kept: list[int] = field(default_factory=list)  # rollouts per item in its group
    spent: list[int] = field(default_factory=list)  # rollouts sampled (or read) for the item

    @property
    def rule(self) -> str:
        sizes = " -> ".join(str(n) for n in stage_sizes(self.first, self.full))
        prior = "" if self.prior is None else f"; Beta({self.prior.a:.3g}, {self.prior.b:.3g})"
        return (
            f"adaptive: {sizes}, growing agreeing items while P(full group disagrees) > "
            f"{OPEN_ABOVE}, within {self.budget:g} of fixed k{prior}"
        )

    def group(self, index: int, rewards: list[float], rollouts: list[Rollout]) -> Group:
        """The item's :class:`Group` for the features: a group that stopped before the full k
        stands for it (its unseen rollouts through the posterior, its rollouts weighted)."""
        kept = self.kept[index]
        if self.prior is None or not 0 < kept < self.full or len(rollouts) != kept:
            return Group(rewards, rollouts)
        unseen = self.prior.unseen(passes(rewards), len(rewards), self.full - kept)
        return Group(rewards, rollouts, weight=self.full / kept, unseen=unseen)

    def provenance(self, indices: range | list[int]) -> dict[str, object]:
        kept = [self.kept[i] for i in indices]
        return {
            "rule": self.rule,
            "rollouts_per_item": kept,
            "rollouts_spent": sum(self.spent[i] for i in indices),
            "items_grown": sum(1 for k in kept if k >= self.full),
        }


def _graded(items: list[Item], results: list[list[Rollout]], grading: Grading) -> list[list[float]]:
    rewards = grade_items(items, results, grading=grading).rewards
    for rollouts in results:
        for rollout in rollouts:  # the reward stage grades them again, from scratch
            rollout.reward = None
    return [list(r) for r in rewards]


def adaptive_rollouts(
    items: list[Item],
    params: SamplingParams,
    obtain: Obtain,
    grading: Grading,
    *,
    first: int = FIRST_STAGE,
    budget: float = BUDGET,
    extends: bool = False,
) -> tuple[list[list[Rollout]], AdaptiveBudget]:
    """Each item's rollouts under the adaptive rule, and the budget spent.

    ``obtain(items, params, prefixes)`` is the rollout stage (cache, backend); an item it answers
    with no rollouts (unreadable) or with rollouts of another size (replayed) is taken as it
    comes. ``budget``: the most rollouts spent, as a share of ``len(items) * params.n``.
    ``extends``: the backend is prefix-stable, so growing an item from h to n rollouts costs
    n - h (the stage hands back the item's own h rollouts first); otherwise it costs n.
    """
    plan = AdaptiveBudget(first=min(first, params.n), full=params.n, budget=budget)
    if plan.first >= params.n:
        rollouts = obtain(items, params)
        plan.kept = [len(r) for r in rollouts]
        plan.spent = list(plan.kept)
        return rollouts, plan
    sizes = stage_sizes(plan.first, params.n)
    results = obtain(items, dataclasses.replace(params, n=plan.first))
    rewards = _graded(items, results, grading)
    plan.spent = [len(r) for r in results]
    complete = [i for i, r in enumerate(results) if len(r) == plan.first]
    graded = [passes(rewards[i]) for i in complete if len(rewards[i]) == plan.first]
    plan.prior = BetaPrior.fit(graded, plan.first)
    left = budget * len(items) * params.n - sum(plan.spent)
    open_items = complete
    for size in sizes[1:]:
        chances = {i: chance_open(plan.prior, rewards[i], params.n) for i in open_items}
        ranked = sorted(
            (i for i in open_items if rewards[i] and agreeing_side(rewards[i]) is not None),
            key=lambda i: -chances[i],
        )
        grow = []
        for index in ranked:
            cost = size - len(results[index]) if extends else size
            if chances[index] <= OPEN_ABOVE or left < cost:
                break
            grow.append(index)
            left -= cost
        if not grow:
            break
        before = [results[i] for i in grow]
        grown = obtain([items[i] for i in grow], dataclasses.replace(params, n=size), before)
        for index, rollouts, had in zip(grow, grown, before, strict=True):
            # a prefix-stable stage extended the group: its first rollouts are the ones it had
            plan.spent[index] += max(0, len(rollouts) - (len(had) if extends else 0))
        regraded = _graded([items[i] for i in grow], grown, grading)
        open_items = []
        for index, rollouts, graded in zip(grow, grown, regraded, strict=True):
            results[index], rewards[index] = rollouts, graded
            if len(rollouts) == size:
                open_items.append(index)
    plan.kept = [len(r) for r in results]
    return results, plan
