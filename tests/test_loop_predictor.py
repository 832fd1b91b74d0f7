"""The loop's online predictor by hand: the prior until an arm holds enough labels, then a
ridge correction to the prior's residual, shrunk toward zero, that scores a round only while it
beats the prior on the arm's labels held out round by round."""

from __future__ import annotations

import numpy as np
import pytest

from datalint.features_names import FEATURE_NAMES
from datalint.loop.draws import argmax
from datalint.loop.predictor import (
    Gate,
    Label,
    OnlinePredictor,
    feature_matrix,
    fit_correction,
    held_out_gate,
    load_prior,
)


def _row(features: dict[str, float]) -> dict[str, float | None]:
    return {name: features.get(name) for name in FEATURE_NAMES}


def test_online_predictor_is_the_prior_until_enough_labels_then_a_refit_that_wins():
    prior = load_prior("adv_std")
    rows = [_row({"adv_std": a, "pass_rate": p}) for a, p in [(0.1, 0.9), (0.4, 0.2), (0.3, 0.5)]]
    cold = OnlinePredictor(prior, [Label(rows[0], 1.0, 0)], min_labels=3, alpha=1.0)
    assert cold.version == "prior:adv_std fallback" and not cold.refitted
    assert cold.gate is None and cold.reason == "1 of 3 labels needed"
    assert cold.predict(rows).tolist() == pytest.approx([0.1, 0.4, 0.3])
    # lift rises with pass_rate here, against adv_std: the refit must learn that, and win
    grid = np.linspace(0, 1, 8)
    labels = [
        Label(_row({"adv_std": 0.5 - p / 2, "pass_rate": p}), p, r) for r, p in enumerate(grid)
    ]
    warm = OnlinePredictor(prior, labels, min_labels=3, alpha=1.0)
    assert warm.version == "refit@8" and warm.refitted
    assert warm.gate.prior_accuracy == 0.0 and warm.gate.refit_accuracy == 1.0
    scores = warm.predict(rows)
    assert argmax(scores.tolist()) == 0  # the highest pass rate
    assert argmax(warm.prior_scores(rows).tolist()) == 1  # the prior still says adv_std


# Hand-computed refits: only pass_rate varies (every other feature is missing, so standardizes
# to 0), and the prior is adv_std, held at 0.3 on the labels, so its scores tie (accuracy 0.5).
def _labels(pass_rates, lifts, rounds, adv_std=None):
    adv = adv_std or [0.3] * len(lifts)
    return [
        Label(_row({"pass_rate": p, "adv_std": a}), y, r)
        for p, y, r, a in zip(pass_rates, lifts, rounds, adv, strict=True)
    ]


def test_correction_is_ridge_on_the_prior_residual_at_half_strength_when_alpha_equals_n():
    labels = _labels([0.0, 1.0], [0.0, 2.0], [0, 1])
    x = feature_matrix([lb.features for lb in labels])
    prior = np.array([0.3, 0.3])
    # residuals -0.3, 1.7: intercept 0.7; pass_rate standardizes to z = -1, +1 (mean 0.5, sd
    # 0.5); coef = sum z (r - 0.7) / (sum z^2 + alpha) = 2 / (2 + alpha): the least-squares
    # slope 1, halved at alpha = 2 = n labels, a quarter of it at alpha = 6
    half = fit_correction(x, prior, np.array([0.0, 2.0]), alpha=2.0)
    assert half.intercept == pytest.approx(0.7)
    assert half.coef[FEATURE_NAMES.index("pass_rate")] == pytest.approx(0.5)
    assert fit_correction(x, prior, np.array([0.0, 2.0]), alpha=6.0).coef[
        FEATURE_NAMES.index("pass_rate")
    ] == pytest.approx(0.25)
    # at pass_rate 1 (z = 1): 0.7 + 0.5 = 1.2, added to the prior's score
    assert half.predict(feature_matrix([_row({"pass_rate": 1.0})]))[0] == pytest.approx(1.2)
    others = [name for name in FEATURE_NAMES if name != "pass_rate"]
    assert all(half.coef[FEATURE_NAMES.index(n)] == 0.0 for n in others)


def test_gate_engages_the_refit_when_held_out_rounds_beat_the_prior():
    labels = _labels([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [0, 1, 2])
    x = feature_matrix([lb.features for lb in labels])
    prior = np.array([0.3, 0.3, 0.3])
    # hold out round 0: fit on pass_rate 1, 2 (z = -1, +1, coef 1/(2+2) = 0.25), scored without
    # the intercept: 0.3 + 0.25 * (0 - 1.5) / 0.5 = -0.45; round 1 -> 0.3 + 0 = 0.3; round 2
    # -> 0.3 + 0.25 * 3 = 1.05: ordered as the lifts, 3/3 pairs; the prior ties them all, 0.5
    gate = held_out_gate(x, prior, np.array([0.0, 1.0, 2.0]), [0, 1, 2], alpha=2.0)
    assert (gate.refit_accuracy, gate.prior_accuracy, gate.engaged) == (1.0, 0.5, True)
    assert (gate.n_labels, gate.n_rounds) == (3, 3)
    assert gate.reason == "held-out refit 1.000 > prior 0.500"
    online = OnlinePredictor(load_prior("adv_std"), labels, min_labels=3, alpha=2.0)
    assert online.version == "refit@3"
    assert online.reason == "held-out refit 1.000 > prior 0.500 on 3 labels, 3 rounds"
    # full fit: pass_rate mean 1, sd sqrt(2/3); coef sqrt(6) / (3 + 2); at pass_rate 3,
    # z = sqrt(6): 0.3 (prior) + 0.7 (intercept) + 6 / 5 = 2.2
    query = [_row({"pass_rate": 3.0, "adv_std": 0.3}), _row({"pass_rate": 1.0, "adv_std": 0.5})]
    assert online.predict(query).tolist() == pytest.approx([2.2, 1.2])


def test_gate_keeps_the_prior_on_a_tie_one_round_or_too_few_labels():
    prior = load_prior("adv_std")
    # the prior is the lift itself: residuals 0, the refit is the prior, 1.0 vs 1.0 keeps it
    tied = _labels([0.0, 1.0, 2.0], [0.1, 0.2, 0.4], [0, 1, 2], adv_std=[0.1, 0.2, 0.4])
    online = OnlinePredictor(prior, tied, min_labels=3, alpha=2.0)
    assert online.version == "prior:adv_std fallback" and not online.refitted
    assert (online.gate.refit_accuracy, online.gate.prior_accuracy) == (1.0, 1.0)
    assert online.reason == "held-out refit 1.000 <= prior 1.000 on 3 labels, 3 rounds"
    # a round's labels are held out together: one round leaves nothing to fit on
    one_round = _labels([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [5, 5, 5])
    online = OnlinePredictor(prior, one_round, min_labels=3, alpha=2.0)
    assert online.version == "prior:adv_std fallback"
    assert online.reason == "under 2 rounds of labels, none to hold out on 3 labels, 1 rounds"
    # lifts 0, 2, 1 at pass_rate 0, 1, 2 (one round each): hold out round 0 -> fitted on
    # (1, 2), (2, 1): coef -1/(2+2), 0.3 - 0.25 * -3 = 1.05; round 1 -> fitted on (0, 0), (2, 1):
    # z = 0 there, 0.3; round 2 -> fitted on (0, 0), (1, 2): coef 2/4, 0.3 + 0.5 * 3 = 1.8.
    # Pairs (0,1) wrong, (0,2) right, (1,2) wrong: 1/3, below the prior's 0.5
    worse = _labels([0.0, 1.0, 2.0], [0.0, 2.0, 1.0], [0, 1, 2])
    x = feature_matrix([lb.features for lb in worse])
    gate = held_out_gate(x, np.full(3, 0.3), np.array([0.0, 2.0, 1.0]), [0, 1, 2], alpha=2.0)
    assert gate.refit_accuracy == pytest.approx(1 / 3) and gate.prior_accuracy == 0.5
    assert not gate.engaged and gate.reason == "held-out refit 0.333 <= prior 0.500"
    # the intercept is left out of held-out scores: the same labels fitted on pass_rate 2 alone
    # (a constant column, coef 0) score both held-out labels 0.3, whatever the other mean lift
    two = _labels([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [0, 0, 1])
    x = feature_matrix([lb.features for lb in two])
    gate = held_out_gate(x, np.full(3, 0.3), np.array([0.0, 1.0, 2.0]), [0, 0, 1], alpha=2.0)
    # round 0 -> 0.3, 0.3 (a tie, half a pair); round 1 -> fitted on 0, 1: 0.3 + 0.25 * 3 = 1.05
    assert gate.refit_accuracy == pytest.approx(2.5 / 3) and gate.engaged
    assert online.gate == Gate(3, 1, None, None, False, online.gate.reason)
    assert online.gate.engaged is False
    same = _labels([0.0, 1.0], [0.5, 0.5], [0, 1])  # no pair of distinct lifts to judge
    online = OnlinePredictor(prior, same, min_labels=2, alpha=2.0)
    assert online.gate == Gate(2, 2, None, None, False, "no pair of distinct lifts")
    assert online.version == "prior:adv_std fallback"
    # two distinct lifts are one pair: each held-out label is fitted on the other alone (a
    # constant column, coef 0), so both score 0.3, a tie like the prior's: 0.5 <= 0.5
    pair = _labels([0.0, 1.0], [0.0, 1.0], [0, 1])
    online = OnlinePredictor(prior, pair, min_labels=2, alpha=2.0)
    assert online.gate == Gate(2, 2, 0.5, 0.5, False, "held-out refit 0.500 <= prior 0.500")
    assert OnlinePredictor(prior, [], min_labels=1, alpha=2.0).predict([]).shape == (0,)


def test_feature_matrix_is_float_with_nan_for_missing_features():
    x = feature_matrix([_row({"pass_rate": 0.5}), {"adv_std": 2.0}])
    assert x.dtype == np.float64 and x.shape == (2, len(FEATURE_NAMES))
    assert x[0, FEATURE_NAMES.index("pass_rate")] == 0.5
    assert x[1, FEATURE_NAMES.index("adv_std")] == 2.0
    assert int(np.isnan(x).sum()) == 2 * len(FEATURE_NAMES) - 2


def test_prior_is_the_shipped_predictor_an_onnx_file_or_adv_std(tmp_path):
    import shutil

    from datalint.predict import default_predictor_path

    mine = tmp_path / "mine.onnx"
    shutil.copy(default_predictor_path(), mine)
    assert load_prior(str(mine)).name == "mine.onnx"
    assert load_prior(None).name == default_predictor_path().name
    assert load_prior("adv_std").name == "adv_std fallback"
