"""The 80% interval of a first-order predictor, scaled by the checked dataset's own spread.

A world's lifts have their own scale (17x apart between the tiny worlds), and quantile trees
fitted in nats on other worlds give a new world intervals of the wrong width: on world7, whose
lifts spread wider than any training world's, they covered 44% of held-out lifts. The spread of
the predictor's own predictions over the dataset being checked carries that scale. So:

- at fit time, for each training world in turn, the line is fitted on the others and its
  residuals on that world are divided by the standard deviation of its predictions there
  (leave-one-world-out, so the residuals are out-of-domain ones, world level error included);
  ``q_lo`` and ``q_hi`` are the 10% and 90% quantiles of those ratios, every world weighing the
  same (:func:`scaled_quantiles`);
- at check time, over the cohorts the line predicts (those with the signal), the interval is
  ``point + q * sd(points)`` (:func:`scaled_band`), when there are at least ``MIN_COHORTS`` of
  them to take a spread from; otherwise the quantile trees' interval stands.

Pure numpy: ``check`` applies it after onnxruntime, from the ONNX metadata
``datalint.scaled_interval``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_COHORTS = 10  # fewer predicted cohorts give no spread to scale by
QUANTILES = (0.1, 0.9)
METADATA_KEY = "datalint.scaled_interval"


@dataclass(frozen=True, slots=True)
class ScaledInterval:
    q_lo: float
    q_hi: float
    min_cohorts: int = MIN_COHORTS

    def as_metadata(self) -> str:
        return json.dumps({"q": [self.q_lo, self.q_hi], "min_cohorts": self.min_cohorts})

    @classmethod
    def from_metadata(cls, raw: str) -> ScaledInterval:
        """Parse ``datalint.scaled_interval``; ValueError names what is wrong."""
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError("is not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("must be {q: [lo, hi], min_cohorts: N}")
        q, n = data.get("q"), data.get("min_cohorts", MIN_COHORTS)
        if (
            not isinstance(q, list)
            or len(q) != 2
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in q)
            or q[0] > q[1]
        ):
            raise ValueError("q must be two finite numbers, low <= high")
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            raise ValueError("min_cohorts must be an integer >= 2")
        return cls(float(q[0]), float(q[1]), n)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="mergesort")
    cum = np.cumsum(weights[order])
    at = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(values[order][min(at, len(values) - 1)])


def scaled_quantiles(
    residual_ratios: Sequence[np.ndarray], quantiles: tuple[float, float] = QUANTILES
) -> ScaledInterval | None:
    """``residual_ratios``: per held-out world, (lift - predicted) / sd(predicted) there. Every
    world weighs the same, whatever its cohort count. None with fewer than two worlds."""
    kept = [np.asarray(r, dtype=float) for r in residual_ratios]
    kept = [r[np.isfinite(r)] for r in kept]
    kept = [r for r in kept if len(r)]
    if len(kept) < 2:
        return None
    values = np.concatenate(kept)
    weights = np.concatenate([np.full(len(r), 1.0 / len(r)) for r in kept])
    lo, hi = (_weighted_quantile(values, weights, q) for q in quantiles)
    return ScaledInterval(lo, hi)


def scaled_band(
    point: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    predicted_by_line: np.ndarray,
    scaled: ScaledInterval,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(lo, hi, applied): the rows the line predicts get ``point + q * sd`` when there are at
    least ``min_cohorts`` of them; the others keep the trees' ``lo``/``hi``. Always contains
    the point."""
    rows = np.asarray(predicted_by_line, dtype=bool)
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    if rows.sum() < scaled.min_cohorts:
        return lo, hi, False
    spread = float(np.std(point[rows]))
    if not math.isfinite(spread) or np.ptp(point[rows]) == 0:  # equal points: no spread
        return lo, hi, False
    lo[rows] = np.minimum(point[rows] + scaled.q_lo * spread, point[rows])
    hi[rows] = np.maximum(point[rows] + scaled.q_hi * spread, point[rows])
    return lo, hi, True


def describe(scaled: ScaledInterval | None) -> dict[str, Any] | None:
    """The card's words for it."""
    if scaled is None:
        return None
    return {
        "q": [scaled.q_lo, scaled.q_hi],
        "min_cohorts": scaled.min_cohorts,
        "meaning": "where the line predicts (the signal is measured) and at least min_cohorts "
        "cohorts are checked: point + q x sd of the points over the checked dataset; q are the "
        "10%/90% quantiles of leave-one-world-out residuals over the training worlds, each "
        "divided by the sd of that world's predictions. Elsewhere the quantile trees",
    }
