"""Leave one world out, with the variant chosen by nested leave-one-world-out.

For each held-out world H: the variant is selected using the other worlds only (an inner
leave-one-world-out among them; with a single training world, 5-fold CV inside it), then fitted
on all of them and scored on H. H's rows are never passed to selection: ``select_variant``
receives the training worlds and nothing else, so the table reported for H was not tuned on H.

Per held-out world the table holds the nested predictor, every variant fitted the same way (for
information, not used to choose), the free signals (direction fixed on the training worlds), the
world's seed-vs-rest ceiling and the coverage of the predictor's 80% interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from datalint.calibrate import metrics
from datalint.calibrate.dataset import CalibrationSet, Label
from datalint.calibrate.evaluate import TOP_FRACTION, kfold_indices
from datalint.calibrate.variants import (
    LINEAR_INPUT,
    VARIANTS,
    FittedPredictor,
    Variant,
    fit_variant,
)
from datalint.features_names import FEATURE_NAMES, SIGNAL_NAMES

FREE_SIGNALS = ("mean_p1p", "adv_std", "frac_nondegenerate", "pass_rate")
SELECTION_METRIC = "pairwise_accuracy"

Fitter = Callable[..., FittedPredictor]


def pooled(sets: Sequence[CalibrationSet], label: Label) -> tuple[np.ndarray, ...]:
    """(x, y, world per row) over several worlds, x with COLUMN_NAMES columns (the 23, then the
    signals); unlabelled rows dropped."""
    xs, ys, gs = [], [], []
    for cset in sets:
        y = cset.label(label)
        keep = ~np.isnan(y)
        xs.append(cset.columns[keep])
        ys.append(y[keep])
        gs.append(np.array([cset.world] * int(keep.sum()), dtype=object))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)


def free_signal(cset: CalibrationSet, name: str) -> np.ndarray:
    col = cset.mean_p1p if name == "mean_p1p" else cset.feature(name)
    col = np.asarray(col, dtype=float)
    if np.isnan(col).all():
        return np.zeros_like(col)
    return np.where(np.isnan(col), np.nanmedian(col), col)


def seed_vs_rest(lifts: np.ndarray) -> dict[str, float]:
    """Each seed against the mean of the others: the ranking a fresh measurement allows."""
    if lifts.shape[1] < 2:
        return {"pairwise_accuracy": math.nan, "spearman": math.nan}
    pw, rho = [], []
    for s in range(lifts.shape[1]):
        held = lifts[:, s]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rest = np.nanmean(np.delete(lifts, s, axis=1), axis=1)
        ok = ~np.isnan(held) & ~np.isnan(rest)
        if ok.sum() < 3:
            continue
        pw.append(metrics.pairwise_accuracy(rest[ok], held[ok]))
        rho.append(metrics.spearman(rest[ok], held[ok]))
    if not pw:
        return {"pairwise_accuracy": math.nan, "spearman": math.nan}
    return {"pairwise_accuracy": float(np.mean(pw)), "spearman": float(np.mean(rho))}


def _score_rows(
    fitter: Fitter,
    variant: Variant,
    train: Sequence[CalibrationSet],
    test: CalibrationSet,
    label: Label,
    intervals: bool = False,
    seed: int = 0,
    blank_signals: bool = False,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    x, y, g = pooled(train, label)
    model = fitter(variant, x, y, g, intervals=intervals, seed=seed)
    yt = test.label(label)
    keep = ~np.isnan(yt)
    groups = np.array([test.world] * int(keep.sum()), dtype=object)
    xt = test.columns[keep]
    if blank_signals:  # what a check without a probe (or a local model) feeds the predictor
        xt[:, len(FEATURE_NAMES) :] = np.nan
    pred = model.predict(xt, groups)
    band = model.interval(xt, groups) if intervals else None
    return pred, yt[keep], band


def select_variant(
    train: Sequence[CalibrationSet],
    label: Label,
    variants: Sequence[Variant] = VARIANTS,
    fitter: Fitter = fit_variant,
    seed: int = 0,
) -> tuple[Variant, dict[str, float]]:
    """The variant with the best mean inner score, judged on ``train`` alone."""
    variants = usable_variants(train, variants)
    scores: dict[str, float] = {}
    for variant in variants:
        values = []
        if len(train) >= 2:
            for inner in train:
                rest = [c for c in train if c is not inner]
                pred, y, _ = _score_rows(fitter, variant, rest, inner, label, seed=seed)
                values.append(metrics.pairwise_accuracy(pred, y))
        else:
            only = train[0]
            rows = np.flatnonzero(~np.isnan(only.label(label)))
            for test in kfold_indices(len(rows), 5, seed):
                test_rows = rows[test]
                fit_rows = np.setdiff1d(rows, test_rows)
                pred, y, _ = _score_rows(
                    fitter,
                    variant,
                    [only.subset(fit_rows)],
                    only.subset(test_rows),
                    label,
                    seed=seed,
                )
                values.append(metrics.pairwise_accuracy(pred, y))
        scores[variant.name] = float(np.mean(values))
    best = max(variants, key=lambda v: (scores[v.name], -variants.index(v)))
    return best, scores


def usable_variants(
    sets: Sequence[CalibrationSet], variants: Sequence[Variant] = VARIANTS
) -> tuple[Variant, ...]:
    """The variants every world can feed: ``+align`` ones only when every world's store holds
    the gradient signals (stores labelled before they existed, or on a served model, do not)."""
    measured = all(not np.isnan(c.column(LINEAR_INPUT)).all() for c in sets)
    return tuple(v for v in variants if measured or not v.align)


def _metrics(score: np.ndarray, y: np.ndarray) -> dict[str, float]:
    m = metrics.ranking_metrics(score, y, TOP_FRACTION)
    return {k: m[k] for k in ("pairwise_accuracy", "spearman", "top10_gain_sd")}


def coverage(y: np.ndarray, band: tuple[np.ndarray, np.ndarray]) -> float:
    lo, hi = band
    return float(np.mean((y >= lo) & (y <= hi)))


def leave_one_world_out(
    sets: Sequence[CalibrationSet],
    label: Label = "nll",
    variants: Sequence[Variant] = VARIANTS,
    fitter: Fitter = fit_variant,
    seed: int = 0,
) -> dict[str, Any]:
    """The nested leave-one-world-out table (see the module docstring)."""
    if len(sets) < 2:
        return {"worlds": [c.world for c in sets], "by_world": {}, "note": "needs 2+ worlds"}
    variants = usable_variants(sets, variants)
    by_world: dict[str, Any] = {}
    for held in sets:
        train = [c for c in sets if c is not held]
        chosen, inner = select_variant(train, label, variants, fitter, seed)
        pred, y, band = _score_rows(fitter, chosen, train, held, label, intervals=True, seed=seed)
        row: dict[str, Any] = {
            "n_cohorts": len(y),
            "selected_variant": chosen.name,
            "inner_scores": inner,
            "predictor": _metrics(pred, y),
            "interval_coverage_80": coverage(y, band) if band is not None else math.nan,
            "lift_sd": float(np.std(y)),
            "predicted_sd": float(np.std(pred)),
        }
        if chosen.align:
            p, yy, _ = _score_rows(
                fitter, chosen, train, held, label, seed=seed, blank_signals=True
            )
            row["predictor_without_signals"] = _metrics(p, yy)
        keep = ~np.isnan(held.label(label))
        row["signals"] = {}
        for name in SIGNAL_NAMES:
            col = held.column(name)[keep]
            if not np.isnan(col).any():  # judged as it comes: more alignment, more lift
                row["signals"][name] = _metrics(col, y)
        row["variants"] = {}
        for variant in variants:
            p, yy, _ = _score_rows(fitter, variant, train, held, label, seed=seed)
            row["variants"][variant.name] = _metrics(p, yy)
        row["free_signals"] = {}
        for name in FREE_SIGNALS:
            xs, ys = [], []
            for c in train:
                yc = c.label(label)
                ok = ~np.isnan(yc)
                xs.append(free_signal(c, name)[ok])
                ys.append(yc[ok])
            direction = (
                1.0 if metrics.spearman(np.concatenate(xs), np.concatenate(ys)) >= 0 else -1.0
            )
            row["free_signals"][name] = _metrics(direction * free_signal(held, name)[keep], y)
        row["ceiling"] = seed_vs_rest(held.lifts(label)[keep])
        best_free = max(
            row["free_signals"], key=lambda n: row["free_signals"][n]["pairwise_accuracy"]
        )
        row["best_free_signal"] = best_free
        row["margin_over_best_free"] = (
            row["predictor"]["pairwise_accuracy"]
            - row["free_signals"][best_free]["pairwise_accuracy"]
        )
        by_world[held.world] = row
    return {
        "worlds": [c.world for c in sets],
        "label": label,
        "by_world": by_world,
        "summary": summarise(by_world),
    }


def summarise(by_world: dict[str, Any]) -> dict[str, Any]:
    """Means over held-out worlds, and the decision for the gating score out of domain."""
    if not by_world:
        return {}
    rows = list(by_world.values())
    mean = lambda f: float(np.mean([f(r) for r in rows]))  # noqa: E731
    out: dict[str, Any] = {
        "predictor_pairwise": mean(lambda r: r["predictor"]["pairwise_accuracy"]),
        "predictor_spearman": mean(lambda r: r["predictor"]["spearman"]),
        "predictor_top10_gain_sd": mean(lambda r: r["predictor"]["top10_gain_sd"]),
        "interval_coverage_80": mean(lambda r: r["interval_coverage_80"]),
        "free_signals": {
            name: {
                "pairwise_accuracy": mean(
                    lambda r, n=name: r["free_signals"][n]["pairwise_accuracy"]
                ),
                "top10_gain_sd": mean(lambda r, n=name: r["free_signals"][n]["top10_gain_sd"]),
            }
            for name in FREE_SIGNALS
        },
    }
    best = max(FREE_SIGNALS, key=lambda n: out["free_signals"][n]["pairwise_accuracy"])
    out["best_free_signal"] = best
    out["out_of_domain_score"] = out_of_domain_decision(out)
    if all("predictor_without_signals" in r for r in rows):
        # a check without a probe feeds the same predictor no signals: judged apart
        without = dict(
            out,
            predictor_pairwise=mean(lambda r: r["predictor_without_signals"]["pairwise_accuracy"]),
            predictor_top10_gain_sd=mean(lambda r: r["predictor_without_signals"]["top10_gain_sd"]),
        )
        out["predictor_without_signals_pairwise"] = without["predictor_pairwise"]
        out["out_of_domain_score_without_signals"] = out_of_domain_decision(without)
    return out


def out_of_domain_decision(summary: dict[str, Any]) -> dict[str, Any]:
    """Which score gates a dataset from a model the predictor never saw: the predictor when it
    beats the best free signal on held-out worlds in both pairwise accuracy and top-10% gain,
    else that free signal (a safety net)."""
    best = summary["best_free_signal"]
    free = summary["free_signals"][best]
    wins = (
        summary["predictor_pairwise"] > free["pairwise_accuracy"]
        and summary["predictor_top10_gain_sd"] >= free["top10_gain_sd"]
    )
    return {
        "score": "predictor" if wins else best,
        "reason": (
            f"held-out worlds: predictor pairwise {summary['predictor_pairwise']:.3f}, top-10% "
            f"{summary['predictor_top10_gain_sd']:+.2f} sd; best free signal {best} "
            f"{free['pairwise_accuracy']:.3f}, {free['top10_gain_sd']:+.2f} sd"
        ),
    }
