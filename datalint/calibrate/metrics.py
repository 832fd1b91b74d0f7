"""Ranking metrics for lift predictions, in plain numpy (no scipy in the core or calibrate deps).

All take ``score`` (what a predictor says, higher = more lift) and ``actual`` (measured lift).
"""

from __future__ import annotations

import math

import numpy as np


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties get their average rank (as scipy.stats.rankdata 'average')."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=float) - np.mean(a)
    b = np.asarray(b, dtype=float) - np.mean(b)
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / denom) if denom > 0 else 0.0


def spearman(score: np.ndarray, actual: np.ndarray) -> float:
    return pearson(rankdata(score), rankdata(actual))


def _pair_signs(score: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(score, dtype=float)
    a = np.asarray(actual, dtype=float)
    iu = np.triu_indices(len(s), k=1)
    ds = np.sign(s[:, None] - s[None, :])[iu]
    da = np.sign(a[:, None] - a[None, :])[iu]
    return ds, da


def pairwise_accuracy(score: np.ndarray, actual: np.ndarray) -> float:
    """Over all pairs whose actual lifts differ: the share the score orders the same way.

    A pair the score ties counts one half (a coin flip), so a constant score gets 0.5.
    """
    ds, da = _pair_signs(score, actual)
    keep = da != 0
    if not keep.any():
        return 0.5
    agree = (ds[keep] == da[keep]).sum() + 0.5 * (ds[keep] == 0).sum()
    return float(agree / keep.sum())


def kendall_tau(score: np.ndarray, actual: np.ndarray) -> float:
    """Kendall's tau-b (ties in either variable handled)."""
    ds, da = _pair_signs(score, actual)
    n_s = float((ds != 0).sum())
    n_a = float((da != 0).sum())
    if n_s == 0 or n_a == 0:
        return 0.0
    return float((ds * da).sum() / math.sqrt(n_s * n_a))


def top_k_picks(score: np.ndarray, fraction: float) -> np.ndarray:
    """Indices of the ceil(fraction * n) highest scores (ties broken by index, stably)."""
    n = len(score)
    k = max(1, math.ceil(fraction * n - 1e-9))
    order = np.argsort(-np.asarray(score, dtype=float), kind="mergesort")
    return order[:k]


def top_k_gain(score: np.ndarray, actual: np.ndarray, fraction: float = 0.1) -> dict[str, float]:
    """How much better the top picks' mean lift is than a random pick's (the overall mean).

    ``diff``: mean(top) - mean(all); ``sd``: diff in standard deviations of the actual lift;
    ``ratio``: mean(top) / mean(all) - 1, NaN when mean(all) <= 0, where a ratio means nothing.
    """
    a = np.asarray(actual, dtype=float)
    top_mean = float(a[top_k_picks(score, fraction)].mean())
    all_mean = float(a.mean())
    sd = float(a.std())
    diff = top_mean - all_mean
    return {
        "top_mean": top_mean,
        "random_mean": all_mean,
        "diff": diff,
        "sd": diff / sd if sd > 0 else 0.0,
        "ratio": top_mean / all_mean - 1.0 if all_mean > 0 else float("nan"),
    }


def ranking_metrics(
    score: np.ndarray, actual: np.ndarray, fraction: float = 0.1
) -> dict[str, float]:
    gain = top_k_gain(score, actual, fraction)
    return {
        "pairwise_accuracy": pairwise_accuracy(score, actual),
        "spearman": spearman(score, actual),
        "kendall_tau": kendall_tau(score, actual),
        "top10_gain_over_random": gain["ratio"],
        "top10_gain_sd": gain["sd"],
        "top10_gain_diff": gain["diff"],
    }


def spearman_brown(reliability_one: float, n: float) -> float:
    """Reliability of the mean of n measurements, given the reliability of one."""
    if math.isinf(n):
        return 1.0 if reliability_one > 0 else 0.0
    r = reliability_one
    denom = 1.0 + (n - 1.0) * r
    return float(n * r / denom) if denom > 0 else 0.0
