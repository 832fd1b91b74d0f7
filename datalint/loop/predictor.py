"""An arm's online predictor: the prior, plus a shrunk correction it must earn on held-out rounds.

The prior is the shipped lift predictor (or ``--prior``: another ONNX file, or ``adv_std``, the
seed's cold start). Once an arm holds ``min_labels`` realised lifts from its own rounds, a
correction is fitted on them before every round: closed-form ridge on the 23 features of the
*residual* ``lift - prior score``, so the refit's score is ``prior + correction`` and, with the
shrinkage ``alpha`` (in labels: the correction reaches half strength once the arm holds about
``alpha`` labels), it starts as the prior itself and moves away only as labels accumulate.

The correction is used only when it beats the prior on the arm's own labels, held out by round
(:func:`held_out_gate`): each round's labels are scored by a correction fitted on the arm's other
rounds, and the pairwise accuracy of those scores over every pair of labels must be strictly
above the prior's. Otherwise the round is scored by the prior, and the version says why. Refits
are pure functions of the labels, so a resumed loop refits exactly what the killed one had.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from datalint.features_names import FEATURE_NAMES
from datalint.loop.draws import pairwise_accuracy
from datalint.loop.options import PRIOR_ADV_STD


@dataclass(frozen=True, slots=True)
class Label:
    features: dict[str, float | None]
    lift: float
    round: int  # the arm's round that measured it: the gate holds labels out round by round


@dataclass(frozen=True, slots=True)
class Gate:
    """The held-out comparison that decides whether an arm's round uses the refit."""

    n_labels: int
    n_rounds: int
    refit_accuracy: float | None  # pairwise, of the held-out-round refit scores
    prior_accuracy: float | None  # pairwise, of the prior's scores on the same labels
    engaged: bool
    reason: str


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


def fit_correction(x: np.ndarray, prior: np.ndarray, lift: np.ndarray, alpha: float):  # type: ignore[no-untyped-def]
    """Ridge on standardized features of ``lift - prior``; its prediction is added to the
    prior's score. The intercept (mean residual) shifts every candidate alike."""
    from datalint.calibrate.models import fit_ridge

    return fit_ridge(x, np.asarray(lift, dtype=float) - prior, alpha=alpha)


def held_out_gate(
    x: np.ndarray, prior: np.ndarray, lift: np.ndarray, rounds: Sequence[int], alpha: float
) -> Gate:
    """Leave one round out: score each round's labels with a correction fitted on the others;
    engage the refit only if those scores order the labels' lifts strictly better than the
    prior does (pairwise accuracy over all pairs of labels).

    The held-out scores leave out the correction's intercept: it shifts every candidate of a
    round alike, so it never changes a pick, while the mean of the *other* rounds' residuals
    runs against the held-out label's own (high where it is low) and would count against the
    refit on pairs across rounds for nothing it does."""
    groups = sorted(set(rounds))
    n = len(lift)
    if len(groups) < 2:
        return Gate(n, len(groups), None, None, False, "under 2 rounds of labels, none to hold out")
    if len(set(lift.tolist())) < 2:
        return Gate(n, len(groups), None, None, False, "no pair of distinct lifts")
    held = np.empty(n)
    where = np.asarray(rounds)
    for g in groups:
        out = where == g
        model = fit_correction(x[~out], prior[~out], lift[~out], alpha)
        held[out] = prior[out] + model.predict(x[out]) - model.intercept
    # two distinct lifts make a pair to judge: neither accuracy is None
    refit = float(pairwise_accuracy(held.tolist(), lift.tolist()))  # type: ignore[arg-type]
    base = float(pairwise_accuracy(prior.tolist(), lift.tolist()))  # type: ignore[arg-type]
    engaged = refit > base
    sign = ">" if engaged else "<="
    reason = f"held-out refit {refit:.3f} {sign} prior {base:.3f}"
    return Gate(n, len(groups), refit, base, engaged, reason)


class OnlinePredictor:
    def __init__(
        self,
        prior,  # type: ignore[no-untyped-def]
        labels: Sequence[Label],
        *,
        min_labels: int,
        alpha: float,
    ) -> None:
        self.prior = prior
        self.n_labels = len(labels)
        self.min_labels = min_labels
        self._correction = None
        self.gate: Gate | None = None
        if len(labels) < min_labels:
            return
        x = feature_matrix([lb.features for lb in labels])
        scores = self.prior_scores([lb.features for lb in labels])
        lift = np.array([lb.lift for lb in labels], dtype=float)
        self.gate = held_out_gate(x, scores, lift, [lb.round for lb in labels], alpha)
        if self.gate.engaged:
            self._correction = fit_correction(x, scores, lift, alpha)

    @property
    def refitted(self) -> bool:
        return self._correction is not None

    @property
    def version(self) -> str:
        """``prior:<name>`` while the prior scores the round, ``refit@<n labels>`` when the
        correction does."""
        if self._correction is None:
            return f"prior:{self.prior.name}"
        return f"refit@{self.n_labels}"

    @property
    def reason(self) -> str:
        """Why this version scores the round."""
        if self.gate is None:
            return f"{self.n_labels} of {self.min_labels} labels needed"
        return f"{self.gate.reason} on {self.gate.n_labels} labels, {self.gate.n_rounds} rounds"

    def prior_scores(self, rows: Sequence[dict[str, float | None]]) -> np.ndarray:
        return np.asarray(self.prior.predict(list(rows)), dtype=float)

    def predict(self, rows: Sequence[dict[str, float | None]]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        scores = self.prior_scores(rows)
        if self._correction is None:
            return scores
        return scores + np.asarray(self._correction.predict(feature_matrix(rows)), dtype=float)
