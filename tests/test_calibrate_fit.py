"""fit + evaluate on a synthetic store: ONNX parity, metadata, card, predictor loading."""

import json
import math
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from datalint.calibrate.dataset import load_calibration_set
from datalint.calibrate.evaluate import evaluate
from datalint.calibrate.fit import fit_predictor
from datalint.calibrate.models import fit_ridge, fit_xgboost, predict_xgboost
from datalint.features_names import FEATURE_NAMES
from datalint.predict import LiftPredictor, dataset_lift_score
from tests.calibrate_synth import synthetic_store


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fit")
    store = synthetic_store(tmp / "store.sqlite")
    cset = load_calibration_set(store)
    evaluation = evaluate(cset, folds=5)
    card = fit_predictor(cset, evaluation, tmp / "p.onnx", build_command="test")
    return tmp, cset, evaluation, card


def test_dataset_shapes_and_p1p(built):
    _, cset, _, _ = built
    assert cset.features.shape == (60, 23)
    assert cset.nll_lifts.shape == (60, 3)
    assert np.isnan(cset.feature("mean_logprob")).sum() == 20  # every third cohort
    first = next(r for r in _store_runs(built[0]) if r.key.cohort_key == "ck000")
    rates = np.array(first.item_pass_rates)
    assert cset.mean_p1p[0] == pytest.approx(float(np.mean(rates * (1 - rates))))
    assert cset.mean_p1p[0] <= 0.25


def _store_runs(tmp):
    from datalint.calibrate.store import CalibrationStore

    return list(CalibrationStore(tmp / "store.sqlite").runs())


def test_onnx_matches_xgboost_within_1e5_including_nan(tmp_path, built):
    _, cset, _, _ = built
    y = cset.label("nll")
    model = fit_xgboost(cset.features, y)
    from datalint.calibrate.fit import to_onnx

    onx = to_onnx(model, {"k": "v"})
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 23)).astype(np.float32)
    x[:, 1] = rng.random(200)  # frac_nondegenerate in its range
    x[rng.random(x.shape) < 0.25] = np.nan
    got = session.run(None, {"features": x})[0].ravel()
    want = predict_xgboost(model, x)
    assert np.max(np.abs(got - want)) < 1e-5


def test_monotone_in_disagreement(built):
    _, cset, _, _ = built
    model = fit_xgboost(cset.features, cset.label("nll"))
    x = np.tile(np.nanmean(cset.features, axis=0), (11, 1))
    x[:, FEATURE_NAMES.index("frac_nondegenerate")] = np.linspace(0, 1, 11)
    pred = predict_xgboost(model, x)
    assert np.all(np.diff(pred) >= -1e-7)
    assert pred[-1] > pred[0]


def test_onnx_metadata_and_card(built):
    tmp, cset, _, card = built
    session = onnxruntime.InferenceSession(str(tmp / "p.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["datalint.features"]) == list(FEATURE_NAMES)
    assert meta["datalint.training_data_hash"] == cset.data_hash
    assert "pairwise_accuracy" in json.loads(meta["datalint.metrics"])
    on_disk = json.loads((tmp / "p.json").read_text())
    assert on_disk == card
    assert card["n_cohorts"] == 60 and card["n_seeds"] == 3
    for key in (
        "pairwise_accuracy",
        "spearman",
        "kendall_tau",
        "top10_gain_over_random",
        "oracle_fraction",
        "loso_top10_gain",
    ):
        assert key in card["metrics"]
    assert set(card["baselines"]) == {
        "random",
        "frac_nondegenerate",
        "mean_p1p",
        "pass_rate",
        "adv_std",
        "ridge",
    }
    # the synthetic lift is a clean function of disagreement: the predictor must rank well
    assert card["metrics"]["spearman"] > 0.8
    assert abs(card["baselines"]["random"]["spearman"]) < 0.05


def test_evaluation_reports_labels_loso_and_noise(built):
    _, _, evaluation, _ = built
    nll = evaluation["labels"]["nll"]
    assert nll["validation"]["n_seeds"] == 3 and nll["validation"]["feature_seed_separate"]
    assert set(nll["loso"]["subjects"]) == {"add", "sub", "mul", "cmp"}
    assert nll["noise_ceiling"]["single_seed_reliability"] > 0.8
    assert evaluation["label_comparison"]["better_predicted"] in {"nll", "reward"}
    assert nll["cv"] == {"folds": 5, "kind": "k-fold"}


def test_ridge_ignores_missing_and_recovers_linear_signal():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = 2.0 * x[:, 0] + 1.0
    x[::4, 2] = np.nan
    model = fit_ridge(x, y, alpha=1e-6)
    assert model.coef[0] * 1.0 == pytest.approx(2.0 * np.std(x[:, 0]), rel=1e-3)
    # y = 2 x0 + 1 exactly, so x0 = 0 predicts 1 whatever the missing column holds
    assert model.predict(np.array([[0.0, 5.0, np.nan]]))[0] == pytest.approx(1.0, abs=1e-4)


def test_lift_predictor_loads_and_predicts_with_missing(built):
    tmp, _, _, _ = built
    predictor = LiftPredictor.load(tmp / "p.onnx")
    assert predictor.predictor_name == "p.onnx" and not predictor.is_fallback
    rows = [{name: (None if name == "mean_logprob" else 0.5) for name in FEATURE_NAMES}]
    rows.append({"frac_nondegenerate": 1.0})
    pred = predictor.predict(rows)
    assert pred.shape == (2,) and np.all(np.isfinite(pred))


def test_fallback_is_adv_std(tmp_path, monkeypatch):
    import datalint.predict as predict

    monkeypatch.setattr(predict, "default_predictor_path", lambda: tmp_path / "absent.onnx")
    p = LiftPredictor.load(None)
    assert p.is_fallback and p.predictor_name == "adv_std fallback"
    got = p.predict([{"adv_std": 0.4}, {"adv_std": None}])
    assert got[0] == pytest.approx(0.4) and math.isnan(got[1])


def test_explicit_missing_predictor_is_an_error(tmp_path):
    from datalint.predict import PredictorError

    with pytest.raises(PredictorError, match="not found"):
        LiftPredictor.load(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_text("not onnx")
    with pytest.raises(PredictorError, match=r"bad\.onnx"):
        LiftPredictor.load(bad)


def test_dataset_lift_score_is_size_weighted():
    assert dataset_lift_score([1.0, 0.0], [3, 1]) == pytest.approx(0.75)
    assert dataset_lift_score([1.0, float("nan")], [3, 1]) == pytest.approx(1.0)
    assert dataset_lift_score([], []) is None


def test_missing_groups_are_learnt_from_blanked_copies():
    from datalint.calibrate.models import with_missing_groups
    from datalint.features_names import FAMILIARITY_FEATURES

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 23))
    y = np.where(x[:, FEATURE_NAMES.index("mean_logprob")] > 0, 1.0, 0.0)
    x_all, y_all = with_missing_groups(x, y)
    assert x_all.shape == (1200, 23) and np.array_equal(y_all[:300], y)
    fam = [FEATURE_NAMES.index(n) for n in FAMILIARITY_FEATURES]
    sim = FEATURE_NAMES.index("target_similarity")
    assert np.isnan(x_all[300:600, fam]).all() and not np.isnan(x_all[300:600, sim]).any()
    assert np.isnan(x_all[600:900, sim]).all() and not np.isnan(x_all[600:900, fam]).any()
    assert np.isnan(x_all[900:, [*fam, sim]]).all()

    model = fit_xgboost(x, y)
    row = np.zeros((1, 23))
    row[0, fam] = np.nan
    # without logprobs the only informative feature is gone: predict the base rate, about 0.5
    assert predict_xgboost(model, row)[0] == pytest.approx(y.mean(), abs=0.1)


SHIPPED = Path(__file__).resolve().parent.parent / "pretrained" / "lift-predictor.onnx"


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped predictor in this checkout")
def test_shipped_predictor_is_the_default_and_matches_its_card():
    predictor = LiftPredictor.load(None)
    assert not predictor.is_fallback and predictor.predictor_name == "lift-predictor.onnx"
    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    signals = ["grad_align_adam", "grad_align_cos"]
    assert list(predictor.feature_order) == card["features"] == [*FEATURE_NAMES, *signals]
    assert predictor.metadata["datalint.training_data_hash"] == card["training_data_hash"]
    assert card["n_cohorts"] >= 320 and card["n_seeds"] >= 3 and len(card["subjects"]) >= 4
    assert len(card["worlds"]) >= 2  # fit across worlds, judged leaving each one out
    for world in card["in_world"].values():  # in-world CV beside the free signals
        scorers = world["labels"]["nll"]["scorers"]
        for name in ("random", "frac_nondegenerate", "mean_p1p", "pass_rate", "adv_std", "ridge"):
            assert set(scorers[name]) >= {"pairwise_accuracy", "spearman", "kendall_tau"}
    for row in card["leave_one_world_out"]["by_world"].values():
        assert set(row["free_signals"]) == {
            "mean_p1p",
            "adv_std",
            "frac_nondegenerate",
            "pass_rate",
        }


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped predictor in this checkout")
def test_shipped_predictor_ranks_disagreement_above_no_foothold():
    # replayed rollouts: reward features only (logprobs and similarity missing)
    frontier = {
        "adv_std": 0.97,
        "frac_nondegenerate": 1.0,
        "adv_absmean": 0.93,
        "frac_all_correct": 0.0,
        "frac_all_wrong": 0.0,
        "reward_mean": 0.5,
        "reward_std": 0.5,
        "pass_rate": 0.5,
        "group_passrate_mean": 0.5,
        "group_passrate_std": 0.06,
        "len_mean": 3.0,
        "len_std": 0.5,
        "n_groups": 4,
    }
    no_foothold = dict(frontier, adv_std=0.0, frac_nondegenerate=0.0, adv_absmean=0.0,
                       frac_all_wrong=1.0, reward_mean=0.0, reward_std=0.0, pass_rate=0.0,
                       group_passrate_mean=0.0, group_passrate_std=0.0)  # fmt: skip
    high, low = LiftPredictor.load(None).predict([frontier, no_foothold])
    assert high > 0 > low
