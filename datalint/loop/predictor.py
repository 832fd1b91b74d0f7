"""An arm's online predictor: the prior until the arm has enough labels of its own, then ridge.

The prior is the shipped lift predictor (or ``--prior``: another ONNX file, or ``adv_std``, the
seed's cold start). Once an arm holds ``min_labels`` realised lifts from its own rounds, its
predictor is refitted on them before every round: closed-form ridge on the 23 features plus the
prior's own score as a 24th column, so the refit can keep what the prior knows where the few
online labels agree with it. Refits are pure functions of the labels, so a resumed loop refits
exactly the predictor the killed one had.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from datalint.features_names import FEATURE_NAMES
from datalint.loop.options import PRIOR_ADV_STD


@dataclass(frozen=True, slots=True)
class Label:
    features: dict[str, float | None]
    lift: float


def load_prior(prior: str | None):  # type: ignore[no-untyped-def]
    """The cold-start predictor: shipped ONNX (None), an ONNX path, or the adv_std fallback."""
    from datalint.predict import FALLBACK_FEATURE, FALLBACK_NAME, LiftPredictor

    if prior == PRIOR_ADV_STD:
        return LiftPredictor(None, (FALLBACK_FEATURE,), FALLBACK_NAME)
    return LiftPredictor.load(prior)


def feature_matrix(rows: Sequence[dict[str, float | None]]) -> np.ndarray:
    x = np.full((len(rows), len(FEATURE_NAMES)), np.nan)
    for i, row in enumerate(rows):
        for j, name in enumerate(FEATURE_NAMES):
            value = row.get(name)
            if value is not None:
                x[i, j] = float(value)
    return x


class OnlinePredictor:
    def __init__(
        self,
        prior,
        labels: Sequence[Label],
        *,
        min_labels: int,
        alpha: float,  # type: ignore[no-untyped-def]
    ) -> None:
        self.prior = prior
        self.n_labels = len(labels)
        self._ridge = None
        if labels and len(labels) >= min_labels:
            from datalint.calibrate.models import fit_ridge

            x = self._inputs([lb.features for lb in labels])
            y = np.array([lb.lift for lb in labels], dtype=float)
            self._ridge = fit_ridge(x, y, alpha=alpha)

    @property
    def refitted(self) -> bool:
        return self._ridge is not None

    @property
    def version(self) -> str:
        """``prior:<name>`` before the refit engages, ``ridge@<n labels>`` after."""
        if self._ridge is None:
            return f"prior:{self.prior.name}"
        return f"ridge@{self.n_labels}"

    def prior_scores(self, rows: Sequence[dict[str, float | None]]) -> np.ndarray:
        return np.asarray(self.prior.predict(list(rows)), dtype=float)

    def _inputs(self, rows: Sequence[dict[str, float | None]]) -> np.ndarray:
        return np.column_stack([feature_matrix(rows), self.prior_scores(rows)])

    def predict(self, rows: Sequence[dict[str, float | None]]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        if self._ridge is None:
            return self.prior_scores(rows)
        return np.asarray(self._ridge.predict(self._inputs(rows)), dtype=float)
