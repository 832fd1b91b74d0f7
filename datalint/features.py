"""The seed's 23 cohort features, computed from raw rewards and token logprobs (numpy only).

A cohort is a list of :class:`Group`: one item's rewards and its rollouts. Every formula is also
written out in ``docs/features.md``. Notation: group g has rewards r_g1..r_gk.

Reward signal (the learnability group)
    a_gi = (r_gi - mean(r_g)) / (std(r_g) + 1e-4), std unbiased (ddof=1), as trl's GRPOTrainer
    computes group advantages (``scale_rewards="group"``); a one-rollout group has advantage 0
    (trl sets its std to 0).
    adv_std             population std of all a_gi pooled over the cohort
    adv_absmean         mean |a_gi|
    frac_nondegenerate  share of groups whose rewards are not all equal
    frac_all_correct    share of groups with every reward >= 1
    frac_all_wrong      share of groups with every reward <= 0
    reward_mean         mean of all rewards pooled
    reward_std          population std of all rewards pooled
    pass_rate           share of rollouts with reward >= 0.5
    group_passrate_mean mean over groups of each group's pass rate
    group_passrate_std  population std over groups of each group's pass rate
Relevance
    target_similarity   passed in (see ``datalint.similarity``)
Shape and size
    n_groups            number of groups with at least one reward
    len_mean, len_std   mean and population std of completion length in characters, all rollouts
Familiarity, from the logprobs of sampled tokens, pooled over the rollouts that have them
    mean_logprob        token-weighted mean logprob
    surprisal_mean      mean over rollouts of the rollout's mean -logprob
    entropy_mean        token-weighted mean of next-token entropies
    logprob_p10/50/90   percentiles of all token logprobs (numpy, linear interpolation)
    confidence_slope    mean over rollouts with >= 2 tokens of mean(second half) - mean(first
                        half); first half = the first floor(n/2) tokens, second half the rest
    redundancy_mean     token-weighted mean of exp(logprob), the mean sampled-token probability
    min_logprob_mean    mean over rollouts of the rollout's lowest logprob

A feature that cannot be computed is ``None``, never 0: logprob features when no rollout has
logprobs (a replayed trace), entropy_mean when none has entropies, reward features when no group
has a reward. Non-finite logprobs or entropies are dropped before pooling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain
from math import lcm

import numpy as np

from datalint.features_names import FEATURE_NAMES
from datalint.findings import ItemDiagnostic
from datalint.load.records import Item, Rollout

ADVANTAGE_EPS = 1e-4  # trl GRPOTrainer: advantages / (std_rewards + 1e-4)
PASS_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class Unseen:
    """The rollouts of a group that adaptive k did not sample, as its posterior sees them:
    ``chances[j]`` is the probability that exactly j of them would pass (j = 0 .. count)."""

    chances: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.chances) - 1


@dataclass(slots=True)
class Group:
    """One item's graded rewards and its rollouts.

    ``rewards`` may be shorter than ``rollouts`` when a verifier failed on some of them; reward
    features read ``rewards``, length and logprob features read ``rollouts``.

    Adaptive k's group that stopped before the full k (see ``docs/features.md``, "Adaptive k"):
    ``unseen`` is the posterior of the rest, and the reward features are their expectation over
    it (each possible full group, its unseen rollouts graded 1 or 0, weighs its chance);
    ``weight`` is what each sampled rollout stands for in the length and logprob features (full
    k / sampled, so every item weighs as under fixed k).
    """

    rewards: list[float]
    rollouts: list[Rollout] = field(default_factory=list)
    weight: float = 1
    unseen: Unseen | None = None


FeatureValues = dict[str, float | None]


def group_advantages(rewards: Sequence[float]) -> np.ndarray:
    """trl's group-normalised advantages: (r - mean) / (unbiased std + 1e-4); 0 for k = 1."""
    flat = np.asarray(rewards, dtype=np.float64)
    return _Segments(flat, np.zeros(flat.size, dtype=np.intp), 1).advantages()


class _Segments:
    """Values of many small groups as one flat array: per-group numbers without a Python loop.

    ``ids`` must be sorted (each group's values contiguous) and every group non-empty.
    """

    def __init__(self, values: np.ndarray, ids: np.ndarray, n_groups: int) -> None:
        self.values = values
        self.ids = ids
        self.counts = np.bincount(ids, minlength=n_groups)
        self.starts = np.concatenate(([0], np.cumsum(self.counts)[:-1]))

    def sums(self, weights: np.ndarray | None = None) -> np.ndarray:
        w = self.values if weights is None else weights
        return np.bincount(self.ids, weights=w, minlength=self.counts.size)

    def means(self) -> np.ndarray:
        return self.sums() / self.counts

    def mins(self) -> np.ndarray:
        return np.minimum.reduceat(self.values, self.starts)

    def maxs(self) -> np.ndarray:
        return np.maximum.reduceat(self.values, self.starts)

    def advantages(self) -> np.ndarray:
        deviations = self.values - self.means()[self.ids]
        squares = np.bincount(self.ids, weights=deviations**2, minlength=self.counts.size)
        single = self.counts < 2
        std = np.sqrt(squares / np.where(single, 1, self.counts - 1))
        std[single] = 0.0  # trl: a one-generation group has std 0, so its advantage is 0
        return deviations / (std[self.ids] + ADVANTAGE_EPS)

    def positions(self) -> np.ndarray:
        """Each value's 0-based position inside its group."""
        return np.arange(self.values.size) - self.starts[self.ids]


def _segments(lists: Sequence[Sequence[float]], finite_only: bool = False) -> _Segments | None:
    """The non-empty lists as segments (after dropping non-finite values if asked), or None."""
    lengths = np.fromiter((len(v) for v in lists), dtype=np.intp, count=len(lists))
    if not lengths.sum():
        return None
    values = np.fromiter(chain.from_iterable(lists), dtype=np.float64, count=int(lengths.sum()))
    ids = np.repeat(np.arange(len(lists)), lengths)
    if finite_only:
        keep = np.isfinite(values)
        values, ids = values[keep], ids[keep]
        if not values.size:
            return None
    present = np.bincount(ids, minlength=len(lists)) > 0
    if not present.all():  # renumber so that groups left empty disappear
        ids = (np.cumsum(present) - 1)[ids]
    return _Segments(values, ids, int(present.sum()))


REWARD_FEATURES_MISSING: FeatureValues = {
    "adv_std": None,
    "frac_nondegenerate": None,
    "adv_absmean": None,
    "frac_all_correct": None,
    "frac_all_wrong": None,
    "reward_mean": None,
    "reward_std": None,
    "pass_rate": None,
    "group_passrate_mean": None,
    "group_passrate_std": None,
}


def reward_features(groups: Sequence[Group]) -> FeatureValues:
    if any(g.unseen is not None and g.rewards for g in groups):
        return _expected_reward_features(groups)
    seg = _segments([g.rewards for g in groups])
    if seg is None:
        return dict(REWARD_FEATURES_MISSING)
    rewards = seg.values
    advantages = seg.advantages()
    mins, maxs = seg.mins(), seg.maxs()
    passed = (rewards >= PASS_THRESHOLD).astype(np.float64)
    group_pass = seg.sums(passed) / seg.counts
    return {
        "adv_std": float(advantages.std()),
        "frac_nondegenerate": float(np.mean(mins != maxs)),
        "adv_absmean": float(np.abs(advantages).mean()),
        "frac_all_correct": float(np.mean(mins >= 1.0)),
        "frac_all_wrong": float(np.mean(maxs <= 0.0)),
        "reward_mean": float(rewards.mean()),
        "reward_std": float(rewards.std()),
        "pass_rate": float(passed.mean()),
        "group_passrate_mean": float(group_pass.mean()),
        "group_passrate_std": float(group_pass.std()),
    }


def _completions(groups: Sequence[Group]) -> tuple[list[list[float]], list[float], list[int]]:
    """Each graded group as the full groups it may complete to, with their chances and the
    index of the group they complete: a group without ``unseen`` is itself (chance 1); one with
    ``unseen`` is its rewards followed by j passes (1.0) and count - j failures (0.0), for each j
    with a chance above 0 (chances renormalised to sum to 1 over the group)."""
    lists: list[list[float]] = []
    chances: list[float] = []
    owners: list[int] = []
    for owner, group in enumerate(g for g in groups if g.rewards):
        if group.unseen is None:
            lists.append(list(group.rewards))
            chances.append(1.0)
            owners.append(owner)
            continue
        count = group.unseen.count
        total = sum(group.unseen.chances)
        for passes, chance in enumerate(group.unseen.chances):
            if chance > 0:
                lists.append([*group.rewards, *[1.0] * passes, *[0.0] * (count - passes)])
                chances.append(chance / total)
                owners.append(owner)
    return lists, chances, owners


def _expected_reward_features(groups: Sequence[Group]) -> FeatureValues:
    """The reward features from expected sums: every per-group share is the mean over groups of
    each group's expected value, and every pooled mean and std is that of the pooled values
    weighted by their completion's chance (the ratio of expected sums; exact for the means)."""
    lists, chances, owners = _completions(groups)
    seg = _segments(lists)
    assert seg is not None  # at least one group has rewards
    per_completion = np.asarray(chances, dtype=np.float64)
    owner = np.asarray(owners, dtype=np.intp)
    per_value = per_completion[seg.ids]

    def pooled(values: np.ndarray) -> tuple[float, float]:
        mean = float(np.dot(per_value, values) / per_value.sum())
        square = float(np.dot(per_value, values * values) / per_value.sum())
        return mean, float(np.sqrt(max(square - mean * mean, 0.0)))

    def expected(values: np.ndarray) -> np.ndarray:
        """Per group, the chance-weighted mean of its completions' values."""
        return np.bincount(owner, weights=per_completion * values) / np.bincount(
            owner, weights=per_completion
        )

    def share(flags: np.ndarray) -> float:
        return float(expected(flags.astype(np.float64)).mean())

    rewards = seg.values
    advantages = seg.advantages()
    mins, maxs = seg.mins(), seg.maxs()
    passed = (rewards >= PASS_THRESHOLD).astype(np.float64)
    group_pass = seg.sums(passed) / seg.counts
    pass_mean = share(group_pass)
    reward_mean, reward_std = pooled(rewards)
    spread = float(expected(group_pass**2).mean()) - pass_mean**2
    return {
        "adv_std": pooled(advantages)[1],
        "frac_nondegenerate": share(mins != maxs),
        "adv_absmean": pooled(np.abs(advantages))[0],
        "frac_all_correct": share(mins >= 1.0),
        "frac_all_wrong": share(maxs <= 0.0),
        "reward_mean": reward_mean,
        "reward_std": reward_std,
        "pass_rate": pooled(passed)[0],
        "group_passrate_mean": pass_mean,
        "group_passrate_std": float(np.sqrt(max(spread, 0.0))),
    }


def shape_features(groups: Sequence[Group]) -> FeatureValues:
    lengths = np.array([len(r.completion) for g in groups for r in g.rollouts], dtype=np.float64)
    return {
        "len_mean": float(lengths.mean()) if lengths.size else None,
        "len_std": float(lengths.std()) if lengths.size else None,
        "n_groups": float(sum(1 for g in groups if g.rewards)),
    }


def _percentiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """numpy.percentile's default (linear) method, without its per-call overhead."""
    ordered = np.sort(values)
    out = []
    for q in qs:
        rank = q / 100 * (ordered.size - 1)
        low = int(rank)
        high = min(low + 1, ordered.size - 1)
        out.append(float(ordered[low] + (rank - low) * (ordered[high] - ordered[low])))
    return out


LOGPROB_FEATURES_MISSING: FeatureValues = {
    "mean_logprob": None,
    "surprisal_mean": None,
    "logprob_p10": None,
    "logprob_p50": None,
    "logprob_p90": None,
    "confidence_slope": None,
    "redundancy_mean": None,
    "min_logprob_mean": None,
}


def familiarity_features(rollouts: Sequence[Rollout]) -> FeatureValues:
    entropies = _segments([r.entropies or () for r in rollouts], finite_only=True)
    entropy_mean = float(entropies.values.mean()) if entropies is not None else None
    seg = _segments([r.logprobs or () for r in rollouts], finite_only=True)
    if seg is None:
        return {**LOGPROB_FEATURES_MISSING, "entropy_mean": entropy_mean}
    tokens = seg.values
    p10, p50, p90 = _percentiles(tokens, (10, 50, 90))
    # first half: the first floor(n/2) tokens of a rollout; second half: the rest
    in_first = seg.positions() < (seg.counts // 2)[seg.ids]
    n_first = seg.counts // 2
    n_second = seg.counts - n_first
    sloped = seg.counts >= 2
    first_mean = seg.sums(np.where(in_first, tokens, 0.0))[sloped] / n_first[sloped]
    second_mean = seg.sums(np.where(in_first, 0.0, tokens))[sloped] / n_second[sloped]
    return {
        "mean_logprob": float(tokens.mean()),
        "surprisal_mean": float(-seg.means().mean()),
        "entropy_mean": entropy_mean,
        "logprob_p10": float(p10),
        "logprob_p50": float(p50),
        "logprob_p90": float(p90),
        "confidence_slope": float((second_mean - first_mean).mean()) if sloped.any() else None,
        "redundancy_mean": float(np.exp(tokens).mean()),
        "min_logprob_mean": float(seg.mins().mean()),
    }


def _weighted(groups: Sequence[Group]) -> list[Group]:
    """The groups with each one's rollouts repeated in proportion to its weight (rational
    weights over a common denominator), so that every pooled mean, std and percentile of the
    length and logprob features is the weighted one. Rewards are left as they are: the reward
    features read a stopped group through ``unseen``."""
    weights = [Fraction(g.weight).limit_denominator(1000) for g in groups]
    if all(w == 1 for w in weights):
        return list(groups)
    scale = lcm(*(w.denominator for w in weights))
    return [
        Group(g.rewards, g.rollouts * int(w * scale), unseen=g.unseen)
        for g, w in zip(groups, weights, strict=True)
    ]


def compute_cohort_features(
    groups: Sequence[Group], *, target_similarity: float | None = None
) -> FeatureValues:
    """All 23 features of one cohort, keyed and ordered as ``FEATURE_NAMES``."""
    groups = _weighted(groups)
    values: FeatureValues = {
        **reward_features(groups),
        "target_similarity": None if target_similarity is None else float(target_similarity),
        **shape_features(groups),
        **familiarity_features([r for g in groups for r in g.rollouts]),
    }
    return {name: values[name] for name in FEATURE_NAMES}


def item_diagnostics(item: Item, rewards: Sequence[float]) -> ItemDiagnostic:
    """Pass rate and dead-end flags of one item: all_correct, all_wrong, disagree (or ungraded).

    An item with no graded rollout gets pass rate 0.0, the single flag ``ungraded``, and
    ``n_rollouts`` 0.
    """
    if not rewards:
        return ItemDiagnostic(item.source.path, item.source.line, 0, 0.0, ["ungraded"])
    low, high = min(rewards), max(rewards)
    flags = []
    if low >= 1.0:
        flags.append("all_correct")
    if high <= 0.0:
        flags.append("all_wrong")
    if low != high:
        flags.append("disagree")
    return ItemDiagnostic(
        path=item.source.path,
        line=item.source.line,
        n_rollouts=len(rewards),
        pass_rate=sum(r >= PASS_THRESHOLD for r in rewards) / len(rewards),
        flags=flags,
    )
