"""Honest evaluation of the lift predictor, side by side with the free baselines.

Everything is cross-validated by cohort: a cohort's score always comes from a model that never
saw that cohort's labels. Single-feature baselines get one fitted parameter, their direction (the
sign of their Spearman correlation on the training folds), so pass_rate is not handicapped by
an arbitrary orientation. The oracle is a seed cross-fit: rank the cohorts by the mean lift of
the other seeds and score against the held-out seed; no predictor can expect to do better than
that ranking's agreement with a fresh measurement, up to the noise it shares.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from datalint.calibrate import metrics
from datalint.calibrate.dataset import CalibrationSet, Label
from datalint.calibrate.models import fit_ridge, fit_xgboost, predict_xgboost
from datalint.calibrate.variants import LINEAR_INPUT, Variant, fit_variant

SINGLE_FEATURE_BASELINES = ("frac_nondegenerate", "mean_p1p", "pass_rate", "adv_std")
TOP_FRACTION = 0.1
CURVE_FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)

Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(train_rows, test_rows, y) -> scores for test_rows, fitted on train_rows only."""


def _column(cset: CalibrationSet, name: str) -> np.ndarray:
    col = cset.mean_p1p if name == "mean_p1p" else cset.feature(name)
    col = np.asarray(col, dtype=float)
    if np.isnan(col).all():
        return np.zeros_like(col)
    return np.where(np.isnan(col), np.nanmedian(col), col)


def scorers(cset: CalibrationSet, seed: int = 0) -> dict[str, Scorer]:
    x = cset.features

    def xgb(train: np.ndarray, test: np.ndarray, y: np.ndarray) -> np.ndarray:
        return predict_xgboost(fit_xgboost(x[train], y[train], seed=seed), x[test])

    def ridge(train: np.ndarray, test: np.ndarray, y: np.ndarray) -> np.ndarray:
        return fit_ridge(x[train], y[train]).predict(x[test])

    def single(name: str) -> Scorer:
        col = _column(cset, name)

        def score(train: np.ndarray, test: np.ndarray, y: np.ndarray) -> np.ndarray:
            direction = 1.0 if metrics.spearman(col[train], y[train]) >= 0 else -1.0
            return direction * col[test]

        return score

    out: dict[str, Scorer] = {"predictor": xgb, "ridge": ridge}
    signal = cset.column(LINEAR_INPUT)
    if not np.isnan(signal).all():  # the store holds the gradient signals
        out["predictor+align"] = _variant_scorer(cset, Variant("raw", False, True), seed)
        out[LINEAR_INPUT] = lambda train, test, y: np.nan_to_num(signal[test], nan=0.0)
    for name in SINGLE_FEATURE_BASELINES:
        out[name] = single(name)
    return out


def _variant_scorer(cset: CalibrationSet, variant: Variant, seed: int) -> Scorer:
    """A cross-world variant fitted inside this world (the 23 features and the signals)."""
    x = cset.columns
    groups = np.array([cset.world] * cset.n_cohorts, dtype=object)

    def score(train: np.ndarray, test: np.ndarray, y: np.ndarray) -> np.ndarray:
        model = fit_variant(variant, x[train], y[train], groups[train], intervals=False, seed=seed)
        return model.predict(x[test], groups[test])

    return score


def kfold_indices(n: int, folds: int, seed: int = 0) -> list[np.ndarray]:
    """Test-row index sets; ``folds`` <= 0 or >= n means leave-one-out."""
    if folds <= 0 or folds >= n:
        return [np.array([i]) for i in range(n)]
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


def cross_validated(score: Scorer, y: np.ndarray, folds: list[np.ndarray]) -> np.ndarray:
    n = len(y)
    out = np.full(n, np.nan)
    all_rows = np.arange(n)
    for test in folds:
        train = np.setdiff1d(all_rows, test)
        out[test] = score(train, test, y)
    return out


def oracle_gain(lifts: np.ndarray, fraction: float = TOP_FRACTION) -> dict[str, float]:
    """Seed cross-fit: for each seed, pick by the mean of the other seeds, score on that seed."""
    n_seeds = lifts.shape[1]
    if n_seeds < 2:
        return {"diff": float("nan"), "sd": float("nan"), "spearman": float("nan")}
    diffs, sds, rhos = [], [], []
    for s in range(n_seeds):
        held = lifts[:, s]
        with warnings.catch_warnings():  # a cohort with no other seed yet is simply skipped
            warnings.simplefilter("ignore", RuntimeWarning)
            others = np.nanmean(np.delete(lifts, s, axis=1), axis=1)
        ok = ~np.isnan(held) & ~np.isnan(others)
        gain = metrics.top_k_gain(others[ok], held[ok], fraction)
        diffs.append(gain["diff"])
        sds.append(gain["sd"])
        rhos.append(metrics.spearman(others[ok], held[ok]))
    return {
        "diff": float(np.mean(diffs)),
        "sd": float(np.mean(sds)),
        "spearman": float(np.mean(rhos)),
    }


def seed_agreement(lifts: np.ndarray) -> dict[str, float]:
    """Mean over seed pairs of the Spearman correlation and of the sign agreement of lift."""
    rhos, signs = [], []
    for a, b in itertools.combinations(range(lifts.shape[1]), 2):
        ok = ~np.isnan(lifts[:, a]) & ~np.isnan(lifts[:, b])
        if ok.sum() < 3:
            continue
        rhos.append(metrics.spearman(lifts[ok, a], lifts[ok, b]))
        signs.append(float(np.mean(np.sign(lifts[ok, a]) == np.sign(lifts[ok, b]))))
    if not rhos:
        return {"spearman": float("nan"), "sign_agreement": float("nan")}
    return {"spearman": float(np.mean(rhos)), "sign_agreement": float(np.mean(signs))}


def noise_ceiling(lifts: np.ndarray) -> dict[str, Any]:
    """Seed-to-seed reliability, and the reliability of the mean label with more seeds."""
    agreement = seed_agreement(lifts)
    r1 = agreement["spearman"]
    n_seeds = lifts.shape[1]
    if math.isnan(r1):
        return {"single_seed_reliability": None, "by_seeds": {}, "max_spearman": None}
    by_seeds = {str(k): metrics.spearman_brown(r1, k) for k in (1, n_seeds, 10)}
    by_seeds["inf"] = metrics.spearman_brown(r1, math.inf)
    reliability_now = metrics.spearman_brown(r1, n_seeds)
    return {
        "single_seed_reliability": r1,
        "by_seeds": by_seeds,
        # a perfect predictor of the true lift correlates with the noisy mean label at most this
        "max_spearman": math.sqrt(reliability_now) if reliability_now > 0 else 0.0,
    }


def validate_labels(cset: CalibrationSet, label: Label) -> dict[str, Any]:
    """Sign, spread and seed agreement of the measured lift, checked before anything is fitted."""
    lifts = cset.lifts(label)
    mean_label = cset.label(label)
    ok = ~np.isnan(mean_label)
    per_seed = {str(s): float(np.nanmean(lifts[:, i])) for i, s in enumerate(cset.seeds)}
    agreement = seed_agreement(lifts)
    feature_seed = cset.settings.get("feature_seed")
    warnings: list[str] = []
    if len(cset.seeds) < 3:
        warnings.append(f"only {len(cset.seeds)} seed(s): label noise needs at least 3 to measure")
    if feature_seed is not None and feature_seed in cset.seeds:
        warnings.append("feature rollouts share a seed with GRPO training")
    if ok.any() and float(np.std(mean_label[ok])) == 0.0:
        warnings.append("the lift has no spread: nothing to rank")
    if not math.isnan(agreement["spearman"]) and agreement["spearman"] < 0.2:
        warnings.append(
            f"seeds barely agree (Spearman {agreement['spearman']:.2f}): labels are noise"
        )
    return {
        "label": label,
        "n_cohorts": int(ok.sum()),
        "n_seeds": len(cset.seeds),
        "mean": float(np.mean(mean_label[ok])) if ok.any() else float("nan"),
        "std": float(np.std(mean_label[ok])) if ok.any() else float("nan"),
        "frac_positive": float(np.mean(mean_label[ok] > 0)) if ok.any() else float("nan"),
        "per_seed_mean": per_seed,
        "seed_agreement": agreement,
        "feature_seed_separate": feature_seed is None or feature_seed not in cset.seeds,
        "warnings": warnings,
    }


def _scored_metrics(score: np.ndarray, y: np.ndarray, oracle: dict[str, float]) -> dict[str, float]:
    m = metrics.ranking_metrics(score, y, TOP_FRACTION)
    od = oracle.get("diff", float("nan"))
    m["oracle_fraction"] = m["top10_gain_diff"] / od if od and od > 0 else float("nan")
    return m


def _random_metrics(y: np.ndarray) -> dict[str, float]:
    """The exact expectations for a random ranking: a coin flip per pair, no correlation, and
    top picks whose mean lift is the overall mean (so no gain, and 0% of the oracle)."""
    all_mean = float(np.mean(y))
    return {
        "pairwise_accuracy": 0.5,
        "spearman": 0.0,
        "kendall_tau": 0.0,
        "top10_gain_over_random": 0.0 if all_mean > 0 else math.nan,
        "top10_gain_sd": 0.0,
        "top10_gain_diff": 0.0,
        "oracle_fraction": 0.0,
    }


def _nanmean(values: list[float]) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan


def _loso(cset: CalibrationSet, y: np.ndarray, all_scorers: dict[str, Scorer]) -> dict[str, Any]:
    """Leave one subject out: fit on the other subjects, rank within the held-out one.

    Metrics are averaged over subjects, except the top-10% ratio, which is the ratio of the
    subject-averaged means (a per-subject ratio explodes where a subject's mean lift is near 0).
    """
    subjects = np.asarray(cset.subjects)
    unique = sorted(set(cset.subjects))
    if len(unique) < 2:
        return {"subjects": unique, "by_scorer": {}}
    rows = np.arange(len(y))
    per: dict[str, dict[str, dict[str, float]]] = {name: {} for name in all_scorers}
    for subject in unique:
        test = rows[subjects == subject]
        train = rows[subjects != subject]
        if len(test) < 4:
            continue
        for name, score in all_scorers.items():
            predicted = score(train, test, y)
            m = metrics.ranking_metrics(predicted, y[test], TOP_FRACTION)
            gain = metrics.top_k_gain(predicted, y[test], TOP_FRACTION)
            m["top_mean"], m["random_mean"] = gain["top_mean"], gain["random_mean"]
            per[name][subject] = m
    summary: dict[str, Any] = {}
    for name, by_subject in per.items():
        if not by_subject:
            continue
        keys = next(iter(by_subject.values())).keys()
        mean = {k: _nanmean([m[k] for m in by_subject.values()]) for k in keys}
        mean["top10_gain_over_random"] = (
            mean["top_mean"] / mean["random_mean"] - 1.0 if mean["random_mean"] > 0 else math.nan
        )
        summary[name] = {"mean": mean, "by_subject": by_subject}
    return {"subjects": unique, "by_scorer": summary}


def _gain_curve(scores: dict[str, np.ndarray], y: np.ndarray) -> dict[str, list[float]]:
    return {
        name: [metrics.top_k_gain(s, y, f)["sd"] for f in CURVE_FRACTIONS]
        for name, s in scores.items()
    }


def evaluate_label(
    cset: CalibrationSet, label: Label, folds: int = 10, seed: int = 0
) -> dict[str, Any]:
    """All metrics for one label: validation, CV scores, baselines, oracle, LOSO, noise ceiling."""
    validation = validate_labels(cset, label)
    y_all = cset.label(label)
    keep = ~np.isnan(y_all)
    sub = _subset(cset, keep)
    y = y_all[keep]
    lifts = sub.lifts(label)
    all_scorers = scorers(sub, seed)
    split = kfold_indices(len(y), folds, seed)
    oracle = oracle_gain(lifts)
    scores = {name: cross_validated(s, y, split) for name, s in all_scorers.items()}
    results = {name: _scored_metrics(s, y, oracle) for name, s in scores.items()}
    results["random"] = _random_metrics(y)
    loso = _loso(sub, y, all_scorers)
    for name, m in results.items():
        loso_mean = loso["by_scorer"].get(name, {}).get("mean", {})
        m["loso_top10_gain"] = loso_mean.get("top10_gain_over_random", float("nan"))
        m["loso_top10_gain_sd"] = loso_mean.get("top10_gain_sd", float("nan"))
        m["loso_spearman"] = loso_mean.get("spearman", float("nan"))
    return {
        "label": label,
        "validation": validation,
        "cv": {"folds": len(split), "kind": "leave-one-out" if len(split) == len(y) else "k-fold"},
        "oracle": oracle,
        "noise_ceiling": noise_ceiling(lifts),
        "scorers": results,
        "loso": loso,
        "gain_curve": {"fractions": list(CURVE_FRACTIONS), **_gain_curve(scores, y)},
        "predictions": {"actual": y.tolist(), **{k: v.tolist() for k, v in scores.items()}},
    }


def _subset(cset: CalibrationSet, keep: np.ndarray) -> CalibrationSet:
    return cset.subset(keep)


def compare_labels(cset: CalibrationSet, by_label: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How NLL-lift and reward-lift agree, and which one the features predict better.

    "Better" is judged relative to each label's own noise ceiling: a noisier label is harder to
    predict for reasons that have nothing to do with the features.
    """
    a, b = cset.label("nll"), cset.label("reward")
    ok = ~np.isnan(a) & ~np.isnan(b)
    out: dict[str, Any] = {
        "spearman_between_labels": metrics.spearman(a[ok], b[ok]) if ok.sum() > 2 else None
    }
    relative: dict[str, float] = {}
    for label, res in by_label.items():
        rho = res["scorers"]["predictor"]["spearman"]
        ceiling = res["noise_ceiling"].get("max_spearman") or float("nan")
        out[label] = {"predictor_spearman": rho, "ceiling": ceiling}
        relative[label] = rho / ceiling if ceiling and ceiling > 0 else rho
    if relative:
        out["better_predicted"] = max(relative, key=lambda k: relative[k])
    return out


def evaluate(
    cset: CalibrationSet,
    folds: int = 10,
    seed: int = 0,
    labels: tuple[Label, ...] = ("nll", "reward"),
) -> dict[str, Any]:
    by_label = {}
    for label in labels:
        if np.isnan(cset.label(label)).all():
            continue
        by_label[label] = evaluate_label(cset, label, folds, seed)
    return {
        "n_cohorts": cset.n_cohorts,
        "n_seeds": len(cset.seeds),
        "subjects": sorted(set(cset.subjects)),
        "settings": cset.settings,
        "data_hash": cset.data_hash,
        "labels": by_label,
        "label_comparison": compare_labels(cset, by_label) if len(by_label) == 2 else None,
    }
