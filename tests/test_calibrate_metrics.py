"""Ranking metrics and evaluation pieces against hand-computed values."""

import math

import numpy as np
import pytest

from datalint.calibrate import metrics
from datalint.calibrate.evaluate import kfold_indices, noise_ceiling, oracle_gain, seed_agreement


def test_pairwise_accuracy_kendall_spearman_on_one_swap():
    score = np.array([1.0, 2.0, 3.0, 4.0])
    actual = np.array([1.0, 3.0, 2.0, 4.0])
    # 6 pairs, only (1, 2) is ordered the wrong way
    assert metrics.pairwise_accuracy(score, actual) == pytest.approx(5 / 6)
    assert metrics.kendall_tau(score, actual) == pytest.approx((5 - 1) / 6)
    # rank differences 0, 1, -1, 0: rho = 1 - 6 * 2 / (4 * 15)
    assert metrics.spearman(score, actual) == pytest.approx(0.8)


def test_constant_score_is_a_coin_flip_and_tied_actuals_are_skipped():
    assert metrics.pairwise_accuracy(np.zeros(5), np.arange(5.0)) == 0.5
    # the (0, 1) pair ties in actual: 2 remaining pairs, both right
    assert metrics.pairwise_accuracy(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 1.0])) == 1.0
    assert metrics.kendall_tau(np.zeros(4), np.arange(4.0)) == 0.0


def test_rankdata_averages_ties():
    assert metrics.rankdata(np.array([10.0, 20.0, 10.0, 30.0])).tolist() == [1.5, 3.0, 1.5, 4.0]


def test_top_k_gain_ratio_and_sd():
    score = np.arange(1.0, 11.0)
    actual = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 3], dtype=float)
    gain = metrics.top_k_gain(score, actual, 0.1)  # one pick: the cohort with lift 3
    assert gain["top_mean"] == 3.0
    assert gain["random_mean"] == pytest.approx(0.4)
    assert gain["diff"] == pytest.approx(2.6)
    assert gain["ratio"] == pytest.approx(3 / 0.4 - 1)
    assert gain["sd"] == pytest.approx(2.6 / math.sqrt(0.84))
    # top 20%: lifts 3 and 1
    assert metrics.top_k_gain(score, actual, 0.2)["top_mean"] == 2.0


def test_top_k_ratio_is_nan_when_mean_lift_is_not_positive():
    gain = metrics.top_k_gain(np.arange(4.0), np.array([-1.0, -1.0, 0.0, 1.0]), 0.25)
    assert math.isnan(gain["ratio"])
    assert gain["diff"] == pytest.approx(1.0 - (-0.25))


def test_spearman_brown():
    assert metrics.spearman_brown(0.5, 3) == pytest.approx(0.75)
    assert metrics.spearman_brown(0.5, 1) == pytest.approx(0.5)
    assert metrics.spearman_brown(0.3, math.inf) == 1.0


def test_oracle_is_seed_cross_fit():
    # two seeds; seed 0 ranks cohort 3 top, seed 1 ranks cohort 0 top
    lifts = np.array([[0.0, 4.0], [1.0, 1.0], [2.0, 2.0], [4.0, 0.0], [0.0, 0.0]])
    oracle = oracle_gain(lifts, fraction=0.2)
    # held seed 0, picked by seed 1 -> cohort 0 (lift 0 in seed 0): 0 - mean 1.4 = -1.4
    # held seed 1, picked by seed 0 -> cohort 3 (lift 0 in seed 1): 0 - 1.4 = -1.4
    assert oracle["diff"] == pytest.approx(-1.4)


def test_seed_agreement_and_noise_ceiling():
    base = np.arange(10.0)
    lifts = np.stack([base, base, base[::-1]], axis=1)
    agree = seed_agreement(lifts)
    assert agree["spearman"] == pytest.approx((1.0 - 1.0 - 1.0) / 3)
    perfect = noise_ceiling(np.stack([base, base], axis=1))
    assert perfect["single_seed_reliability"] == pytest.approx(1.0)
    assert perfect["max_spearman"] == pytest.approx(1.0)


def test_kfold_covers_every_row_once():
    parts = kfold_indices(23, 5, seed=1)
    assert sorted(np.concatenate(parts).tolist()) == list(range(23))
    assert len(kfold_indices(7, 0)) == 7


def _cset(subjects: list[str]):
    from datalint.calibrate.dataset import CalibrationSet

    n = len(subjects)
    return CalibrationSet(
        cohort_keys=[str(i) for i in range(n)], cohort_ids=[str(i) for i in range(n)],
        subjects=subjects, features=np.zeros((n, 23)), nll_lifts=np.zeros((n, 1)),
        reward_lifts=np.zeros((n, 1)), mean_p1p=np.zeros(n), seeds=[0], settings={},
        model_fingerprint="m", probe_hash="p", data_hash="d",
    )  # fmt: skip


def test_loso_ratio_is_the_ratio_of_subject_averaged_means():
    from datalint.calibrate.evaluate import _loso

    y = np.array([1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 2.0])
    cset = _cset(["a"] * 4 + ["b"] * 4)
    oracle = {"perfect": lambda train, test, yy: yy[test]}
    out = _loso(cset, y, oracle)["by_scorer"]["perfect"]["mean"]
    # a: top pick 4 vs mean 2.5; b: top pick 2 vs mean 0.5 -> (4+2)/2 / ((2.5+0.5)/2) - 1
    assert out["top10_gain_over_random"] == pytest.approx(1.0)
    assert out["spearman"] == pytest.approx((1.0 + metrics.spearman(y[4:], y[4:])) / 2)


def test_verdict_says_plainly_when_the_predictor_loses():
    from datalint.calibrate.fit import verdict

    def row(pa: float, gain: float) -> dict:
        return {"pairwise_accuracy": pa, "top10_gain_sd": gain, "loso_spearman": None}

    scorers = {
        name: row(0.55, 0.2)
        for name in ("random", "frac_nondegenerate", "mean_p1p", "pass_rate", "adv_std", "ridge")
    }
    scorers["predictor"] = row(0.6, 0.5)
    evaluation = {"labels": {"nll": {"scorers": scorers}}}
    assert verdict(evaluation, "nll").startswith("Cross-validated: the predictor beats every")
    scorers["ridge"] = row(0.7, 0.9)
    assert "the predictor does NOT beat the best baseline" in verdict(evaluation, "nll")
    scorers["ridge"] = row(0.7, 0.1)
    assert "mixed" in verdict(evaluation, "nll")
    for s in scorers.values():
        s["loso_spearman"], s["loso_top10_gain_sd"] = 0.2, 0.3
    scorers["predictor"]["loso_spearman"] = 0.1  # worse than every baseline on unseen subjects
    text = verdict(evaluation, "nll")
    assert "Unseen subject (LOSO): the predictor does NOT beat" in text


def test_spearman_is_computed_on_ranks_not_raw_values():
    # the same order, wildly uneven spacing: ranks agree perfectly, raw values do not
    score = np.array([1.0, 2.0, 3.0, 1000.0])
    actual = np.array([0.1, 0.2, 0.3, 0.4])
    assert metrics.spearman(score, actual) == pytest.approx(1.0)
    assert metrics.pearson(score, actual) < 0.8
    # one swap among uneven values: ranks 1,2,3,4 vs 1,3,2,4 -> 0.8, whatever the spacing
    assert metrics.spearman(np.array([1.0, 10.0, 100.0, 1e4]), np.array([0, 2, 1, 3.0])) == (
        pytest.approx(0.8)
    )


def test_top_k_takes_the_ceiling_of_the_fraction():
    # 11 cohorts at 10%: 1.1 -> 2 picks (a floor or a round would take 1)
    assert len(metrics.top_k_picks(np.arange(11.0), 0.1)) == 2
    assert metrics.top_k_picks(np.arange(11.0), 0.1).tolist() == [10, 9]
    # 15 at 10%: 1.5 -> 2; 100 at 55% is 55.00000000000001 in floating point -> still 55
    assert len(metrics.top_k_picks(np.arange(15.0), 0.1)) == 2
    assert len(metrics.top_k_picks(np.arange(100.0), 0.55)) == 55
    assert len(metrics.top_k_picks(np.arange(30.0), 0.1)) == 3
    # never zero picks
    assert len(metrics.top_k_picks(np.arange(3.0), 0.1)) == 1
    # 14 at 10%: 1.4 -> 2 (round would take 1)
    assert len(metrics.top_k_picks(np.arange(14.0), 0.1)) == 2
