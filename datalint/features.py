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

import numpy as np

from datalint.features_names import FEATURE_NAMES
from datalint.findings import ItemDiagnostic
from datalint.records import Item, Rollout

ADVANTAGE_EPS = 1e-4  # trl GRPOTrainer: advantages / (std_rewards + 1e-4)
PASS_THRESHOLD = 0.5


@dataclass(slots=True)
class Group:
    """One item's graded rewards and its rollouts.

    ``rewards`` may be shorter than ``rollouts`` when a verifier failed on some of them; reward
    features read ``rewards``, length and logprob features read ``rollouts``.
    """

    rewards: list[float]
    rollouts: list[Rollout] = field(default_factory=list)


FeatureValues = dict[str, float | None]


def group_advantages(rewards: Sequence[float]) -> np.ndarray:
    """trl's group-normalised advantages: (r - mean) / (unbiased std + 1e-4); 0 for k = 1."""
    r = np.asarray(rewards, dtype=np.float64)
    if r.size < 2:
        return np.zeros_like(r)
    return (r - r.mean()) / (r.std(ddof=1) + ADVANTAGE_EPS)


def _all_equal(r: np.ndarray) -> bool:
    return bool(np.all(r == r[0]))


def reward_features(groups: Sequence[Group]) -> FeatureValues:
    graded = [np.asarray(g.rewards, dtype=np.float64) for g in groups if g.rewards]
    names = (
        "adv_std",
        "frac_nondegenerate",
        "adv_absmean",
        "frac_all_correct",
        "frac_all_wrong",
        "reward_mean",
        "reward_std",
        "pass_rate",
        "group_passrate_mean",
        "group_passrate_std",
    )
    if not graded:
        return dict.fromkeys(names, None)
    advantages = np.concatenate([group_advantages(r) for r in graded])
    pooled = np.concatenate(graded)
    group_pass = np.array([np.mean(r >= PASS_THRESHOLD) for r in graded])
    return {
        "adv_std": float(advantages.std()),
        "frac_nondegenerate": float(np.mean([not _all_equal(r) for r in graded])),
        "adv_absmean": float(np.abs(advantages).mean()),
        "frac_all_correct": float(np.mean([bool(np.all(r >= 1.0)) for r in graded])),
        "frac_all_wrong": float(np.mean([bool(np.all(r <= 0.0)) for r in graded])),
        "reward_mean": float(pooled.mean()),
        "reward_std": float(pooled.std()),
        "pass_rate": float(np.mean(pooled >= PASS_THRESHOLD)),
        "group_passrate_mean": float(group_pass.mean()),
        "group_passrate_std": float(group_pass.std()),
    }


def shape_features(groups: Sequence[Group]) -> FeatureValues:
    lengths = np.array([len(r.completion) for g in groups for r in g.rollouts], dtype=np.float64)
    return {
        "len_mean": float(lengths.mean()) if lengths.size else None,
        "len_std": float(lengths.std()) if lengths.size else None,
        "n_groups": float(sum(1 for g in groups if g.rewards)),
    }


def _finite(values: Sequence[float] | None) -> np.ndarray:
    if not values:
        return np.empty(0)
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]


def familiarity_features(rollouts: Sequence[Rollout]) -> FeatureValues:
    per_rollout = [lp for lp in (_finite(r.logprobs) for r in rollouts) if lp.size]
    entropies = [e for e in (_finite(r.entropies) for r in rollouts) if e.size]
    entropy_mean = float(np.concatenate(entropies).mean()) if entropies else None
    if not per_rollout:
        missing: FeatureValues = dict.fromkeys(
            (
                "mean_logprob",
                "surprisal_mean",
                "logprob_p10",
                "logprob_p50",
                "logprob_p90",
                "confidence_slope",
                "redundancy_mean",
                "min_logprob_mean",
            ),
            None,
        )
        return {**missing, "entropy_mean": entropy_mean}
    tokens = np.concatenate(per_rollout)
    p10, p50, p90 = np.percentile(tokens, [10, 50, 90])
    slopes = [
        lp[lp.size // 2 :].mean() - lp[: lp.size // 2].mean() for lp in per_rollout if lp.size >= 2
    ]
    return {
        "mean_logprob": float(tokens.mean()),
        "surprisal_mean": float(np.mean([-lp.mean() for lp in per_rollout])),
        "entropy_mean": entropy_mean,
        "logprob_p10": float(p10),
        "logprob_p50": float(p50),
        "logprob_p90": float(p90),
        "confidence_slope": float(np.mean(slopes)) if slopes else None,
        "redundancy_mean": float(np.exp(tokens).mean()),
        "min_logprob_mean": float(np.mean([lp.min() for lp in per_rollout])),
    }


def compute_cohort_features(
    groups: Sequence[Group], *, target_similarity: float | None = None
) -> FeatureValues:
    """All 23 features of one cohort, keyed and ordered as ``FEATURE_NAMES``."""
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
    r = np.asarray(rewards, dtype=np.float64)
    if not r.size:
        return ItemDiagnostic(item.source.path, item.source.line, 0, 0.0, ["ungraded"])
    flags = []
    if np.all(r >= 1.0):
        flags.append("all_correct")
    if np.all(r <= 0.0):
        flags.append("all_wrong")
    if not _all_equal(r):
        flags.append("disagree")
    return ItemDiagnostic(
        path=item.source.path,
        line=item.source.line,
        n_rollouts=int(r.size),
        pass_rate=float(np.mean(r >= PASS_THRESHOLD)),
        flags=flags,
    )
