"""The predictor's variants across worlds: objective x inputs, each fitted on several worlds.

Objectives (all with the design's monotone constraints):

- ``raw``: squared error on the measured lift (nats), as the single-world predictor.
- ``world_z``: squared error on the lift standardised within each world (a world whose lifts are
  17x larger no longer dominates the fit); the score is mapped back to nats isotonically on the
  training rows (score -> raw lift), so ``predicted_lift`` stays in nats.
- ``rank``: xgboost ``rank:pairwise`` with one query group per world (only orderings within a
  world are learnt); mapped back to nats the same way.
- ``first_order`` (``+align`` only): the gradient signal's own estimate, ``beta * grad_align_adam
  + alpha``, fitted by least squares on the training worlds with ``beta >= 0``. The signal is
  already in the label's units up to a constant (lr x steps x <sign grad L, grad NLL> is a
  first-order NLL drop), so one line serves every world and keeps the signal's ranking exactly.
  Where the signal is missing (a check without a probe) the point comes from trees fitted like
  ``raw`` (on the rows with the signals blanked among the rest).

Inputs: the 23 features, or the 23 plus the derived inputs ``rank:NAME`` for each familiarity
feature NAME: its percentile rank among the cohorts of the same world (training) or of the same
checked dataset (``check``), 0 = lowest, 1 = highest, 0.5 for a lone cohort, missing where NAME
is missing. A rank means the same on every model and tokenizer; the raw logprobs do not.
``+align`` adds the gradient signals (``datalint.signals.grad_align``): ``grad_align_adam`` and
``grad_align_cos`` as measured, and ``rank:grad_align_adam``, monotone increasing all three (the
first-order estimate says more alignment, more lift). They are an optional group like the
familiarity features: every fit also sees its rows with them blanked, so a check without a probe
still gets a prediction from the 23.

Intervals: two quantile regressions (``reg:quantileerror`` at 0.1 and 0.9) on the raw lift,
same inputs and constraints: an 80% interval in nats. The point is clipped into it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datalint.calibrate.models import MONOTONE, OPTIONAL_GROUPS, XGB_PARAMS
from datalint.extras import MissingExtra
from datalint.features_names import (
    COLUMN_NAMES,
    FAMILIARITY_FEATURES,
    FEATURE_NAMES,
    GRADIENT_SIGNALS,
)
from datalint.predict.derived import percentile_ranks
from datalint.predict.scaled_interval import ScaledInterval, scaled_band, scaled_quantiles

OBJECTIVES = ("raw", "world_z", "rank", "first_order")
LINEAR_INPUT = "grad_align_adam"  # first_order's one input
DERIVED_INPUTS: tuple[str, ...] = tuple(f"rank:{n}" for n in FAMILIARITY_FEATURES)
ALIGN_INPUTS: tuple[str, ...] = ("grad_align_adam", "grad_align_cos")
ALIGN_DERIVED: tuple[str, ...] = ("rank:grad_align_adam",)
SIGNAL_MONOTONE: dict[str, int] = {name: 1 for name in ALIGN_INPUTS + ALIGN_DERIVED}
INTERVAL_QUANTILES = (0.1, 0.9)
# blanked in copies of the training rows so that the trees learn to predict without them
VARIANT_OPTIONAL_GROUPS: tuple[tuple[str, ...], ...] = (*OPTIONAL_GROUPS, GRADIENT_SIGNALS)


@dataclass(frozen=True, slots=True)
class Variant:
    objective: str = "raw"
    derived: bool = False
    align: bool = False

    @property
    def name(self) -> str:
        return (
            self.objective + ("+ranks" if self.derived else "") + ("+align" if self.align else "")
        )

    @property
    def base_inputs(self) -> tuple[str, ...]:
        """The measured columns the model reads (``datalint.features`` in its metadata)."""
        return FEATURE_NAMES + (ALIGN_INPUTS if self.align else ())

    @property
    def inputs(self) -> tuple[str, ...]:
        derived = (DERIVED_INPUTS if self.derived else ()) + (ALIGN_DERIVED if self.align else ())
        return self.base_inputs + derived

    @classmethod
    def parse(cls, name: str) -> Variant:
        for variant in VARIANTS:
            if variant.name == name:
                return variant
        raise ValueError(f"unknown predictor variant {name!r}")


VARIANTS: tuple[Variant, ...] = tuple(
    Variant(o, d, a)
    for a in (False, True)
    for o in OBJECTIVES
    for d in (False, True)
    if a or o != "first_order"  # first_order needs the signal
)


def _columns(x: np.ndarray) -> tuple[str, ...]:
    """The names of ``x``'s columns: the 23 features, or all of COLUMN_NAMES."""
    width = np.shape(x)[1]
    if width == len(COLUMN_NAMES):
        return COLUMN_NAMES
    if width == len(FEATURE_NAMES):
        return FEATURE_NAMES
    raise ValueError(f"{width} columns: expected the 23 features or {len(COLUMN_NAMES)} columns")


def derived_columns(
    x: np.ndarray, groups: np.ndarray, names: Sequence[str] = FAMILIARITY_FEATURES
) -> np.ndarray:
    """The ``rank:NAME`` inputs for ``names``, ranked within each group (world or dataset)."""
    columns = _columns(x)
    out = np.full((len(x), len(names)), np.nan)
    for g in np.unique(groups):
        rows = groups == g
        for j, name in enumerate(names):
            if name in columns:
                out[rows, j] = percentile_ranks(x[rows, columns.index(name)])
    return out


def design_matrix(x: np.ndarray, groups: np.ndarray, variant: Variant) -> np.ndarray:
    """The model's input for ``variant`` from ``x`` (the 23 features, or COLUMN_NAMES; signals
    a 23-column ``x`` lacks are missing)."""
    x = np.asarray(x, dtype=float)
    columns = _columns(x)
    base = np.column_stack(
        [
            x[:, columns.index(n)] if n in columns else np.full(len(x), np.nan)
            for n in variant.base_inputs
        ]
    )
    ranked = [n.partition(":")[2] for n in variant.inputs[len(variant.base_inputs) :]]
    if not ranked:
        return base
    return np.hstack([base, derived_columns(x, groups, ranked)])


def monotone_for(inputs: Sequence[str]) -> tuple[int, ...]:
    return tuple(MONOTONE.get(name, SIGNAL_MONOTONE.get(name, 0)) for name in inputs)


def _blank_columns(inputs: Sequence[str]) -> list[list[int]]:
    """Per optional group the model reads: its columns, derived ranks of its features included."""
    cols = []
    for group in VARIANT_OPTIONAL_GROUPS:
        names = set(group) | {f"rank:{n}" for n in group}
        found = [j for j, n in enumerate(inputs) if n in names]
        if found:
            cols.append(found)
    return cols


def with_missing_copies(x: np.ndarray, inputs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """x as measured, then with each combination of optional groups blanked; and the copy index
    of every row (see ``models.with_missing_groups``)."""
    columns = _blank_columns(inputs)
    xs, copy = [x], [np.zeros(len(x), dtype=int)]
    for mask in range(1, 2 ** len(columns)):
        blank = x.copy()
        for bit, cols in enumerate(columns):
            if mask & (1 << bit):
                blank[:, cols] = np.nan
        xs.append(blank)
        copy.append(np.full(len(x), mask))
    return np.concatenate(xs), np.concatenate(copy)


def _xgb() -> Any:
    try:
        import xgboost
    except ImportError:
        raise MissingExtra("calibrate", "xgboost") from None
    return xgboost


def isotonic_fit(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool-adjacent-violators: the non-decreasing step function of score closest to y (least
    squares), as knots (block mean score, block mean y) for ``np.interp``. Tied scores are one
    point first (a score cannot map to two values), so the knots' scores strictly increase."""
    xs_all = np.asarray(score, dtype=float)
    ys_all = np.asarray(y, dtype=float)
    uniq, inverse, counts = np.unique(xs_all, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ys_all)
    blocks: list[list[float]] = []  # [sum of x * weight, sum of y, weight]
    for xi, sy, c in zip(uniq, sums, counts, strict=True):
        blocks.append([xi * c, sy, float(c)])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            sx, s_y, w = blocks.pop()
            blocks[-1][0] += sx
            blocks[-1][1] += s_y
            blocks[-1][2] += w
    knots_x = np.array([b[0] / b[2] for b in blocks])
    knots_y = np.array([b[1] / b[2] for b in blocks])
    return knots_x, knots_y


def isotonic_apply(knots: tuple[np.ndarray, np.ndarray], score: np.ndarray) -> np.ndarray:
    kx, ky = knots
    if len(kx) == 1:
        return np.full(len(score), float(ky[0]))
    return np.interp(np.asarray(score, dtype=float), kx, ky)


def ranker_as_regressor(ranker: Any) -> Any:
    """The ranker's trees as an XGBRegressor (same margins), which onnxmltools converts."""
    xgboost = _xgb()
    config = json.loads(bytes(ranker.get_booster().save_raw("json")))
    config["learner"]["objective"] = {
        "name": "reg:squarederror",
        "reg_loss_param": {"scale_pos_weight": "1"},
    }
    reg = xgboost.XGBRegressor()
    reg.load_model(bytearray(json.dumps(config).encode()))
    return reg


@dataclass(slots=True)
class FittedPredictor:
    variant: Variant
    point: Any  # an XGBRegressor (a ranker is converted to one)
    lo: Any | None
    hi: Any | None
    output_map: tuple[np.ndarray, np.ndarray] | None  # score -> nats, None = identity
    # first_order: (column of LINEAR_INPUT in inputs, beta, alpha); the trees are the fallback
    linear: tuple[int, float, float] | None = None
    # first_order fitted on 2+ worlds: the line's interval scaled by the dataset's spread
    scaled: ScaledInterval | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.variant.inputs

    def score(self, x23: np.ndarray, groups: np.ndarray) -> np.ndarray:
        x = design_matrix(x23, groups, self.variant).astype(np.float32)
        trees = np.asarray(self.point.predict(x), dtype=float)
        if self.linear is None:
            return trees
        column, beta, alpha = self.linear
        signal = x[:, column].astype(float)
        return np.where(np.isnan(signal), trees, beta * signal + alpha)

    def predict(self, x23: np.ndarray, groups: np.ndarray) -> np.ndarray:
        s = self.score(x23, groups)
        return s if self.output_map is None else isotonic_apply(self.output_map, s)

    def interval(self, x23: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        point = self.predict(x23, groups)
        if self.lo is None or self.hi is None:
            return point, point
        x = design_matrix(x23, groups, self.variant).astype(np.float32)
        a = np.asarray(self.lo.predict(x), dtype=float)
        b = np.asarray(self.hi.predict(x), dtype=float)
        lo, hi = order_interval(a, b, point)
        if self.scaled is not None and self.linear is not None:
            # the rows passed are the checked dataset: their spread sets the width
            by_line = ~np.isnan(x[:, self.linear[0]])
            lo, hi, _ = scaled_band(point, lo, hi, by_line, self.scaled)
        return lo, hi


def order_interval(
    a: np.ndarray, b: np.ndarray, point: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi] with lo <= point <= hi: quantile trees fitted apart can cross."""
    lo = np.minimum(np.minimum(a, b), point)
    hi = np.maximum(np.maximum(a, b), point)
    return lo, hi


def standardise_by_group(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    z = np.empty_like(y, dtype=float)
    for g in np.unique(groups):
        rows = groups == g
        sd = float(np.std(y[rows]))
        z[rows] = (y[rows] - y[rows].mean()) / (sd if sd > 0 else 1.0)
    return z


def fit_variant(
    variant: Variant,
    x23: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    intervals: bool = True,
    seed: int = 0,
) -> FittedPredictor:
    """Fit ``variant`` on rows ``x23`` (23 features), labels ``y`` (nats) from ``groups``
    (world per row); ``weights`` per row (local calibration up-weights local rows)."""
    xgboost = _xgb()
    y = np.asarray(y, dtype=float)
    groups = np.asarray(groups)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    inputs = variant.inputs
    x = design_matrix(x23, groups, variant)
    x_all, copy = with_missing_copies(x.astype(np.float32), inputs)
    n_copies = len(x_all) // len(x)
    rep = lambda a: np.tile(a, n_copies)  # noqa: E731
    monotone = monotone_for(inputs)
    params = dict(XGB_PARAMS, monotone_constraints=monotone, random_state=seed)
    output_map = None
    linear = None
    if variant.objective == "first_order":
        column = inputs.index(LINEAR_INPUT)
        linear = (column, *fit_line(x[:, column], y, w))
    if variant.objective == "rank":
        _, gid = np.unique(groups, return_inverse=True)
        qid = rep(gid) + copy * (gid.max() + 1)
        order = np.argsort(qid, kind="mergesort")
        target = rep(_grades(y, gid))
        group_w = np.array([w[gid == g].mean() for g in range(gid.max() + 1)])
        ranker = xgboost.XGBRanker(**params, objective="rank:pairwise")
        ranker.fit(
            x_all[order],
            target[order],
            qid=qid[order],
            sample_weight=np.tile(group_w, n_copies),
        )
        point = ranker_as_regressor(ranker)
    else:
        target = (
            y if variant.objective in ("raw", "first_order") else standardise_by_group(y, groups)
        )
        point = xgboost.XGBRegressor(**params)
        point.fit(x_all, rep(target).astype(np.float32), sample_weight=rep(w))
    if variant.objective in ("world_z", "rank"):
        score = np.asarray(point.predict(x.astype(np.float32)), dtype=float)
        output_map = isotonic_fit(score, y)
    lo = hi = None
    scaled = None
    if intervals:
        lo, hi = (_quantile(xgboost, params, q, x_all, rep(y), rep(w)) for q in INTERVAL_QUANTILES)
        if linear is not None:
            scaled = line_interval_quantiles(x[:, linear[0]], y, groups, w)
    return FittedPredictor(variant, point, lo, hi, output_map, linear, scaled)


def line_interval_quantiles(
    signal: np.ndarray, y: np.ndarray, groups: np.ndarray, w: np.ndarray
) -> ScaledInterval | None:
    """Leave one world out over ``groups``: the line fitted on the other worlds, its residuals
    on the held one divided by the sd of its predictions there (datalint.predict.scaled_interval).
    None with fewer than two worlds that have the signal."""
    ratios = []
    for world in np.unique(groups):
        held = (groups == world) & ~np.isnan(signal) & ~np.isnan(y)
        rest = (groups != world) & ~np.isnan(signal)
        if held.sum() < 2 or not rest.any():
            continue
        beta, alpha = fit_line(signal[rest], y[rest], w[rest])
        predicted = beta * signal[held] + alpha
        spread = float(np.std(predicted))
        if spread > 0:
            ratios.append((y[held] - predicted) / spread)
    return scaled_quantiles(ratios)


def fit_line(signal: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least squares ``y ~ beta * signal + alpha`` over the rows with the signal,
    ``beta`` clipped at 0 (then ``alpha`` is the weighted mean): more alignment never predicts
    less lift."""
    ok = ~np.isnan(signal) & ~np.isnan(y)
    if not ok.any():
        raise ValueError(f"first_order needs {LINEAR_INPUT}: no training row has it")
    s, t, v = signal[ok], y[ok], w[ok]
    mean_s, mean_t = np.average(s, weights=v), np.average(t, weights=v)
    var = float(np.average((s - mean_s) ** 2, weights=v))
    beta = float(np.average((s - mean_s) * (t - mean_t), weights=v)) / var if var > 0 else 0.0
    beta = max(beta, 0.0)
    return beta, float(mean_t - beta * mean_s)


def _grades(y: np.ndarray, gid: np.ndarray, levels: int = 32) -> np.ndarray:
    """Integer relevance grades for the ranker: the lift's rank within its world, in levels."""
    out = np.zeros(len(y))
    for g in np.unique(gid):
        rows = gid == g
        out[rows] = np.floor(percentile_ranks(y[rows]) * (levels - 1) + 0.5)
    return out


def _quantile(
    xgboost: Any, params: dict, q: float, x: np.ndarray, y: np.ndarray, w: np.ndarray
) -> Any:
    model = xgboost.XGBRegressor(**params, objective="reg:quantileerror", quantile_alpha=q)
    model.fit(x, y.astype(np.float32), sample_weight=w)
    return model
