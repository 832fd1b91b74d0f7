"""The first-order predictor's interval scaled by the checked dataset's spread
(datalint/predict/scaled_interval.py): hand-computed quantiles and bands, the fit's
leave-one-world-out residuals, the ONNX metadata and check's use of it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datalint.predict.scaled_interval import (
    MIN_COHORTS,
    ScaledInterval,
    scaled_band,
    scaled_quantiles,
)


def test_quantiles_weigh_every_world_the_same():
    # world a: eight 0s (1/16 each), world b: two 10s (1/4 each): 0 holds half the weight
    got = scaled_quantiles([np.zeros(8), np.array([10.0, 10.0])], quantiles=(0.4, 0.6))
    assert (got.q_lo, got.q_hi) == (0.0, 10.0)  # pooled unweighted, 0.6 would be 0
    got = scaled_quantiles(
        [np.array([-2.0, -1.0, 1.0, 2.0]), np.array([-10.0, 10.0])], quantiles=(0.3, 0.7)
    )
    # sorted -10 (.25), -2, -1, 1, 2 (.125 each), 10 (.25): cumulative .25 .375 .5 .625 .75 1
    assert (got.q_lo, got.q_hi) == (-2.0, 2.0)
    assert got.min_cohorts == MIN_COHORTS


def test_quantiles_need_two_worlds_and_skip_what_is_not_finite():
    assert scaled_quantiles([np.array([1.0, 2.0])]) is None
    assert scaled_quantiles([np.array([1.0]), np.array([np.nan])]) is None
    got = scaled_quantiles([np.array([1.0, np.inf]), np.array([3.0])], quantiles=(0.5, 0.5))
    assert got.q_lo == 1.0  # 1 and 3 weigh a half each


def test_band_is_point_plus_q_times_the_datasets_spread():
    point = np.arange(10.0)
    trees_lo, trees_hi = point - 0.5, point + 0.5
    spread = float(np.std(point))  # 2.8722813...
    lo, hi, applied = scaled_band(
        point, trees_lo, trees_hi, np.ones(10, bool), ScaledInterval(-1.0, 0.5)
    )
    assert applied
    assert lo == pytest.approx(point - spread) and hi == pytest.approx(point + 0.5 * spread)
    # quantiles on one side of zero still give a band that holds the point
    lo, hi, _ = scaled_band(point, trees_lo, trees_hi, np.ones(10, bool), ScaledInterval(0.2, 0.5))
    assert lo == pytest.approx(point) and hi == pytest.approx(point + 0.5 * spread)


def test_band_keeps_the_trees_for_rows_off_the_line_and_for_small_datasets():
    point = np.arange(12.0)
    trees_lo, trees_hi = point - 0.5, point + 0.5
    by_line = np.array([True] * 10 + [False] * 2)
    lo, hi, applied = scaled_band(point, trees_lo, trees_hi, by_line, ScaledInterval(-1.0, 1.0))
    spread = float(np.std(point[:10]))  # the spread of the rows the line predicts
    assert applied and lo[:10] == pytest.approx(point[:10] - spread)
    assert list(lo[10:]) == list(trees_lo[10:]) and list(hi[10:]) == list(trees_hi[10:])
    nine = np.array([True] * 9 + [False] * 3)
    lo, hi, applied = scaled_band(point, trees_lo, trees_hi, nine, ScaledInterval(-1.0, 1.0))
    assert not applied and list(lo) == list(trees_lo) and list(hi) == list(trees_hi)
    flat = np.full(12, 0.3)
    _, _, applied = scaled_band(flat, flat, flat, np.ones(12, bool), ScaledInterval(-1.0, 1.0))
    assert not applied  # no spread to scale by


@pytest.mark.parametrize(
    "raw, why",
    [
        ("{", "not JSON"),
        ("[1, 2]", "must be"),
        ('{"q": [1]}', "two finite"),
        ('{"q": [2, 1]}', "low <= high"),
        ('{"q": [0, "x"]}', "two finite"),
        ('{"q": [0, 1e999]}', "two finite"),
        ('{"q": [-1, 1], "min_cohorts": 1}', "min_cohorts"),
        ('{"q": [-1, 1], "min_cohorts": true}', "min_cohorts"),
    ],
)
def test_metadata_is_validated(raw, why):
    with pytest.raises(ValueError, match=why):
        ScaledInterval.from_metadata(raw)


def test_metadata_messages_are_exact():
    for raw, message in (
        ("{", "is not JSON"),
        ("[1, 2]", "must be {q: [lo, hi], min_cohorts: N}"),
        ('{"q": [2, 1]}', "q must be two finite numbers, low <= high"),
        ('{"q": [-1, 1], "min_cohorts": 1}', "min_cohorts must be an integer >= 2"),
    ):
        with pytest.raises(ValueError) as err:
            ScaledInterval.from_metadata(raw)
        assert str(err.value) == message


def test_metadata_round_trips_and_takes_its_boundaries():
    s = ScaledInterval(-1.25, 0.75, 12)
    assert ScaledInterval.from_metadata(s.as_metadata()) == s
    assert ScaledInterval.from_metadata('{"q": [-1, 1]}').min_cohorts == MIN_COHORTS
    assert ScaledInterval.from_metadata('{"q": [0.5, 0.5]}') == ScaledInterval(0.5, 0.5)
    assert ScaledInterval.from_metadata('{"q": [0, 1], "min_cohorts": 2}').min_cohorts == 2


# ---- through fit, ONNX and check -----------------------------------------------------------

pytest.importorskip("xgboost")
pytest.importorskip("onnxruntime")


def _sets(tmp: Path):
    from datalint.calibrate.worlds import load_worlds
    from tests.test_gradient_signals import _stores

    return load_worlds(_stores(tmp))[0]


def test_fit_takes_the_quantiles_from_leave_one_world_out_residuals(tmp_path):
    from datalint.calibrate.lowo import pooled
    from datalint.calibrate.variants import LINEAR_INPUT, Variant, fit_line, fit_variant
    from datalint.features_names import COLUMN_NAMES

    sets = _sets(tmp_path)
    x, y, g = pooled(sets, "nll")
    model = fit_variant(Variant("first_order", align=True), x, y, g)
    s = x[:, COLUMN_NAMES.index(LINEAR_INPUT)]
    ratios = []
    for world in np.unique(g):
        held, rest = g == world, g != world
        beta, alpha = fit_line(s[rest], y[rest], np.ones(int(rest.sum())))
        predicted = beta * s[held] + alpha
        ratios.append((y[held] - predicted) / np.std(predicted))
    want = scaled_quantiles(ratios)
    assert model.scaled == want
    assert model.scaled.q_lo < 0 < model.scaled.q_hi
    # one world only: nothing held out, so no scaled interval
    one = fit_variant(Variant("first_order", align=True), x[g == g[0]], y[g == g[0]], g[g == g[0]])
    assert one.scaled is None
    # trees-only variants never carry one
    assert fit_variant(Variant("raw", align=True), x, y, g).scaled is None


def test_check_applies_the_onnx_metadata_like_the_fitted_model(tmp_path):
    from datalint.calibrate.fit import fit_predictor
    from datalint.calibrate.lowo import pooled
    from datalint.calibrate.variants import Variant, fit_variant
    from datalint.features_names import COLUMN_NAMES
    from datalint.predict import LiftPredictor

    sets = _sets(tmp_path)
    variant = Variant("first_order", align=True)
    out = tmp_path / "p.onnx"
    card = fit_predictor(sets, {"worlds": {}}, out, variant=variant)
    assert card["interval"]["scaled"]["min_cohorts"] == MIN_COHORTS
    predictor = LiftPredictor.load(out)
    assert predictor.scaled_interval is not None
    q = predictor.scaled_interval
    assert card["interval"]["scaled"]["q"] == pytest.approx([q.q_lo, q.q_hi])
    assert "sd of the points over the checked dataset" in card["interval"]["scaled"]["meaning"]
    world = sets[2]
    rows = [
        {n: (None if np.isnan(v) else float(v)) for n, v in zip(COLUMN_NAMES, r, strict=True)}
        for r in world.columns
    ]
    got, lo, hi = predictor.predict_with_interval(rows)
    assert predictor.interval_scaled
    x, y, g = pooled(sets, "nll")
    model = fit_variant(variant, x, y, g)
    want_lo, want_hi = model.interval(world.columns, np.array([world.world] * len(rows)))
    assert np.max(np.abs(lo - want_lo)) < 1e-5 and np.max(np.abs(hi - want_hi)) < 1e-5
    spread = float(np.std(got))
    q = predictor.scaled_interval
    assert lo == pytest.approx(np.minimum(got + q.q_lo * spread, got), abs=1e-9)
    # fewer than MIN_COHORTS rows with the signal: the quantile trees' band
    few = [dict(r, grad_align_adam=None) if i >= 5 else r for i, r in enumerate(rows)]
    _, lo_few, _ = predictor.predict_with_interval(few)
    assert not predictor.interval_scaled and not np.allclose(lo_few[:5], lo[:5])


def test_a_predictor_with_bad_scaled_metadata_is_refused(tmp_path):
    import onnx

    from datalint.calibrate.fit import fit_predictor
    from datalint.calibrate.variants import Variant
    from datalint.predict import LiftPredictor, PredictorError

    sets = _sets(tmp_path)
    out = tmp_path / "p.onnx"
    fit_predictor(sets, {"worlds": {}}, out, variant=Variant("first_order", align=True))
    model = onnx.load(out)
    for prop in model.metadata_props:
        if prop.key == "datalint.scaled_interval":
            prop.value = json.dumps({"q": [1.0, -1.0]})
    bad = tmp_path / "bad.onnx"
    onnx.save(model, bad)
    bad.with_suffix(".json").write_text(out.with_suffix(".json").read_text())
    with pytest.raises(PredictorError, match="scaled_interval q must be"):
        LiftPredictor.load(bad)
