"""Gradient signals through the product: the variants that take them (first_order, +align),
their ONNX graph, stores that hold them or not, and `check` computing them (or saying why not)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from click.testing import CliRunner

from datalint.calibrate.dataset import load_calibration_set
from datalint.calibrate.fit import predictor_to_onnx
from datalint.calibrate.lowo import pooled, usable_variants
from datalint.calibrate.store import CalibrationStore
from datalint.calibrate.variants import (
    LINEAR_INPUT,
    VARIANTS,
    Variant,
    design_matrix,
    fit_line,
    fit_variant,
    monotone_for,
)
from datalint.calibrate.worlds import load_worlds
from datalint.cli import cli
from datalint.features_names import COLUMN_NAMES, FEATURE_NAMES, GRADIENT_SIGNALS
from datalint.measure import can_align
from datalint.predict import LiftPredictor
from tests.calibrate_synth import synthetic_store

REPO = Path(__file__).resolve().parent.parent
SETTINGS = {"steps": 8, "lr": 5e-5, "feature_seed": 1000, "similarity_method": "char-ngram"}


def _stores(tmp: Path, signals: bool = True) -> list[str]:
    paths = []
    for i, scale in enumerate((1.0, 0.2, 3.0)):
        path = tmp / f"w{i}.sqlite"
        synthetic_store(
            path,
            n_cohorts=40,
            model=f"model{i}",
            scale=scale,
            seed=i,
            noise=0.3,
            settings=SETTINGS,
            alignment_signal=signals,
        ).close()
        paths.append(str(path))
    return paths


def test_variant_names_round_trip_and_first_order_needs_the_signal():
    names = [v.name for v in VARIANTS]
    assert len(names) == len(set(names)) == 14
    assert all(Variant.parse(n) == v for n, v in zip(names, VARIANTS, strict=True))
    assert "first_order" not in names and "first_order+align" in names
    for bad in ("first_order", "raw+align+ranks", "raw+ranks+ranks", "raw+x", "lin"):
        with pytest.raises(ValueError, match="unknown predictor variant"):
            Variant.parse(bad)
    v = Variant("raw", True, True)
    assert v.base_inputs == (*FEATURE_NAMES, "grad_align_adam", "grad_align_cos")
    assert v.inputs[-1] == "rank:grad_align_adam" and v.inputs[25].startswith("rank:")
    mono = dict(zip(v.inputs, monotone_for(v.inputs), strict=True))
    assert mono["grad_align_adam"] == mono["grad_align_cos"] == mono["rank:grad_align_adam"] == 1
    assert mono["frac_all_wrong"] == -1 and mono["rank:mean_logprob"] == 0


def test_fit_line_by_hand():
    ones = np.ones(3)
    assert fit_line(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0]), ones) == pytest.approx(
        (2.0, 1.0)
    )
    # a falling line is clipped flat: beta 0, alpha the mean
    assert fit_line(np.array([0.0, 1.0, 2.0]), np.array([5.0, 3.0, 1.0]), ones) == pytest.approx(
        (0.0, 3.0)
    )
    # weights: the weighted means and covariance; a missing signal is left out
    beta, alpha = fit_line(
        np.array([0.0, 2.0, np.nan]), np.array([0.0, 4.0, 100.0]), np.array([3.0, 1.0, 1.0])
    )
    assert (beta, alpha) == pytest.approx((2.0, 0.0))
    with pytest.raises(ValueError, match="no training row"):
        fit_line(np.array([np.nan]), np.array([1.0]), np.ones(1))


def test_design_matrix_reads_signals_by_name_and_a_23_column_x_lacks_them():
    x = np.arange(2 * len(COLUMN_NAMES), dtype=float).reshape(2, -1)
    groups = np.array(["a", "a"], dtype=object)
    design = design_matrix(x, groups, Variant("raw", False, True))
    assert design.shape == (2, 26)
    assert list(design[0, 23:25]) == [23.0, 24.0]  # grad_align_adam, grad_align_cos
    assert list(design[:, 25]) == [0.0, 1.0]  # their rank within the group
    short = design_matrix(x[:, :23], groups, Variant("raw", False, True))
    assert np.isnan(short[:, 23:]).all()
    assert design_matrix(x, groups, Variant()).shape == (2, 23)
    with pytest.raises(ValueError, match="columns"):
        design_matrix(x[:, :5], groups, Variant())


def test_first_order_predicts_the_line_where_measured_and_trees_where_not(tmp_path):
    sets, _ = load_worlds(_stores(tmp_path))
    x, y, g = pooled(sets, "nll")
    model = fit_variant(Variant("first_order", False, True), x, y, g)
    column, beta, alpha = model.linear
    assert model.inputs[column] == LINEAR_INPUT and beta > 0
    signal = x[:, COLUMN_NAMES.index(LINEAR_INPUT)]
    assert np.allclose(model.predict(x, g), beta * signal + alpha)
    blank = x.copy()
    blank[:, 23:] = np.nan
    trees = model.predict(blank, g)
    assert not np.allclose(trees, beta * signal + alpha)
    onx = predictor_to_onnx(model, {"k": "v"})
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    mixed = x.copy()
    mixed[::2, 23:] = np.nan  # every other row without its signals
    want = model.predict(mixed, g)
    design = design_matrix(mixed, g, model.variant).astype(np.float32)
    point = session.run(None, {"features": design})[0].ravel()
    assert np.max(np.abs(point - want)) < 1e-5 * max(1.0, np.abs(want).max())


def test_nested_lowo_uses_align_variants_only_when_every_store_holds_the_signals(tmp_path):
    with_signals, _ = load_worlds(_stores(tmp_path / "a"))
    (tmp_path / "b").mkdir()
    without, _ = load_worlds(_stores(tmp_path / "b", signals=False))
    assert any(v.align for v in usable_variants(with_signals))
    assert not any(v.align for v in usable_variants(without))
    assert not any(v.align for v in usable_variants([with_signals[0], without[1]]))


def test_fit_refuses_an_align_variant_on_a_store_without_signals(tmp_path):
    (tmp_path / "b").mkdir()
    paths = _stores(tmp_path / "b", signals=False)
    result = CliRunner().invoke(
        cli, ["fit", *paths, "-o", str(tmp_path / "p.onnx"), "--variant", "first_order+align"]
    )
    assert result.exit_code == 2
    assert "gradient signals" in result.output and "Traceback" not in result.output


def test_fit_first_order_and_check_reads_the_signals_from_rows(tmp_path):
    paths = _stores(tmp_path)
    out = tmp_path / "p.onnx"
    result = CliRunner().invoke(
        cli, ["fit", *paths, "-o", str(out), "--variant", "first_order+align"]
    )
    assert result.exit_code == 0, result.output
    predictor = LiftPredictor.load(out)
    assert predictor.uses_signals
    assert predictor.feature_order[-2:] == ("grad_align_adam", "grad_align_cos")
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["first_order"]["input"] == LINEAR_INPUT
    rows = [
        {**{n: 0.1 for n in FEATURE_NAMES}, "grad_align_adam": a, "grad_align_cos": 0.0}
        for a in (0.0, 5.0, 50.0)
    ]
    lifts = predictor.predict(rows)
    assert lifts[0] < lifts[1] < lifts[2]
    beta, alpha = card["first_order"]["beta"], card["first_order"]["alpha"]
    assert lifts == pytest.approx([alpha, alpha + 5 * beta, alpha + 50 * beta], rel=1e-3, abs=1e-6)


def test_store_add_signals_touches_only_that_cohort_on_that_model(tmp_path):
    path = tmp_path / "s.sqlite"
    synthetic_store(path, n_cohorts=3, n_seeds=2, settings=SETTINGS).close()
    store = CalibrationStore(path)
    assert (
        store.add_signals("ck001", "modelA", {"grad_align_adam": 1.5, "grad_align_cos": None}) == 2
    )
    assert store.add_signals("ck001", "other-model", {"grad_align_adam": 9.0}) == 0
    with pytest.raises(ValueError, match="not a signal"):
        store.add_signals("ck001", "modelA", {"adv_std": 1.0})
    cset = load_calibration_set(store)
    adam = cset.column("grad_align_adam")
    assert adam[1] == 1.5 and np.isnan(adam[0]) and np.isnan(adam[2])
    assert np.isnan(cset.column("grad_align_cos")).all()
    rows = sqlite3.connect(path).execute("SELECT features FROM runs WHERE cohort_key='ck001'")
    for (text,) in rows:
        features = json.loads(text)
        assert features["grad_align_adam"] == 1.5 and len(features) == 23 + 2


def test_can_align_needs_a_probe_and_local_weights():
    probe = [object()]
    assert can_align("transformers", None, probe)
    assert can_align("vllm", None, probe)
    assert not can_align("openai", None, probe)
    assert not can_align("transformers", "r.jsonl", probe)
    assert not can_align("transformers", None, [])
    assert not can_align("transformers", None, None)


SAMPLING = ["--rollouts-per-item", "4", "--max-new-tokens", "6", "--no-cache"]


@pytest.fixture(scope="module")
def signal_predictor(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sigpred")
    out = tmp / "p.onnx"
    result = CliRunner().invoke(
        cli, ["fit", *_stores(tmp), "-o", str(out), "--variant", "first_order+align"]
    )
    assert result.exit_code == 0, result.output
    return out


def _data(tmp: Path) -> Path:
    data = tmp / "d.jsonl"
    lines = (REPO / "examples" / "vendor.jsonl").read_text().splitlines()[:8]
    data.write_text("\n".join(lines) + "\n")
    return data


def test_check_computes_signals_with_a_probe_and_predicts_from_them(tmp_path, signal_predictor):
    pytest.importorskip("torch")
    data = _data(tmp_path)
    probe = REPO / "examples" / "probe.jsonl"
    args = ["check", str(data), "--probe", str(probe), "--predictor", str(signal_predictor)]
    result = CliRunner().invoke(cli, [*args, *SAMPLING, "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    card = json.loads(signal_predictor.with_suffix(".json").read_text())
    beta, alpha = card["first_order"]["beta"], card["first_order"]["alpha"]
    for cohort in report["cohorts"]:
        assert set(cohort["signals"]) == set(GRADIENT_SIGNALS)
        assert set(cohort["features"]) == set(FEATURE_NAMES)  # the 23 stay the 23
        want = beta * cohort["signals"]["grad_align_adam"] + alpha
        assert cohort["predicted_lift"] == pytest.approx(want, rel=1e-3, abs=1e-6)
    assert "takes gradient signals" not in result.stderr


def test_check_without_a_probe_says_why_the_signals_are_missing(tmp_path, signal_predictor):
    pytest.importorskip("torch")
    data = _data(tmp_path)
    args = ["check", str(data), "--predictor", str(signal_predictor), *SAMPLING, "--format", "json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (0, 1), result.output
    assert "takes gradient signals, not computed (no --probe was given)" in result.stderr
    cohorts = json.loads(result.stdout)["cohorts"]
    assert all("signals" not in c for c in cohorts)
    assert all(np.isfinite(c["predicted_lift"]) for c in cohorts)
    probe = str(REPO / "examples" / "probe.jsonl")
    off = CliRunner().invoke(cli, [*args, "--probe", probe, "--no-gradient-signals"])
    assert "(--no-gradient-signals)" in off.stderr
    assert all("signals" not in c for c in json.loads(off.stdout)["cohorts"])


def test_signals_on_request_with_a_predictor_that_does_not_take_them(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "stores").mkdir()
    plain_predictor = tmp_path / "plain.onnx"
    fitted = CliRunner().invoke(
        cli, ["fit", *_stores(tmp_path / "stores", signals=False), "-o", str(plain_predictor)]
    )
    assert fitted.exit_code == 0, fitted.output
    assert not LiftPredictor.load(plain_predictor).uses_signals
    data = _data(tmp_path)
    probe = str(REPO / "examples" / "probe.jsonl")
    base = ["check", str(data), "--probe", probe, "--predictor", str(plain_predictor)]
    base += [*SAMPLING, "--format", "json"]
    plain = CliRunner().invoke(cli, base)
    asked = CliRunner().invoke(cli, [*base, "--gradient-signals"])
    assert all("signals" not in c for c in json.loads(plain.stdout)["cohorts"])
    with_signals = json.loads(asked.stdout)["cohorts"]
    assert all(set(c["signals"]) == set(GRADIENT_SIGNALS) for c in with_signals)
    # a predictor of the 23 alone: the same predictions either way, and no note
    assert [c["predicted_lift"] for c in with_signals] == [
        c["predicted_lift"] for c in json.loads(plain.stdout)["cohorts"]
    ]
    assert "takes gradient signals" not in plain.stderr
    # measured and judged, but not used: this predictor takes none
    judged = json.loads(asked.stdout)["summary"]["predictor_domain"]["gradient_signals"]
    assert judged["in_linear_range"] is True and judged["used"] is False
    assert json.loads(plain.stdout)["summary"]["predictor_domain"]["gradient_signals"] is None


def test_the_shipped_predictor_takes_the_signals_and_check_computes_them_by_default(tmp_path):
    pytest.importorskip("torch")
    assert LiftPredictor.load().uses_signals
    data = _data(tmp_path)
    probe = str(REPO / "examples" / "probe.jsonl")
    result = CliRunner().invoke(
        cli, ["check", str(data), "--probe", probe, *SAMPLING, "--format", "json"]
    )
    cohorts = json.loads(result.stdout)["cohorts"]
    assert all(set(c["signals"]) == set(GRADIENT_SIGNALS) for c in cohorts)


def test_out_of_domain_without_signals_follows_the_without_signals_table():
    from datalint.findings import CohortReport
    from datalint.predict.domain import predictor_domain

    card = {
        "worlds": [{"name": "w", "model_fingerprint": "aaa"}],
        "out_of_domain_score": {"score": "predictor", "reason": "with signals it wins"},
        "out_of_domain_score_without_signals": {"score": "mean_p1p", "reason": "it loses"},
        "signal_maps": {"mean_p1p": {"x": [0.0, 0.25], "y": [-1.0, 1.0]}},
    }
    measured = CohortReport("c", [("d", 1)], {}, signals={"grad_align_adam": 1.0})
    bare = CohortReport("c", [("d", 1)], {})
    assert predictor_domain(card, "x:zzz", [measured]).lift_score_source == "predictor"
    assert predictor_domain(card, "x:zzz", [measured, bare]).lift_score_source == "mean_p1p"
    # signals measured but not fed (outside their linear range): the without-signals table
    fed_none = predictor_domain(card, "x:zzz", [measured], signals_fed=False)
    assert fed_none.lift_score_source == "mean_p1p"
    assert predictor_domain(card, "x:zzz", [bare], signals_fed=True).lift_score_source == (
        "predictor"
    )
    older = {k: v for k, v in card.items() if k != "out_of_domain_score_without_signals"}
    assert predictor_domain(older, "x:zzz", [bare]).lift_score_source == "predictor"


def test_lowo_summary_judges_the_predictor_without_signals_apart():
    from datalint.calibrate.lowo import summarise

    def row(with_p, without_p):
        free = {"pairwise_accuracy": 0.62, "top10_gain_sd": 0.5}
        return {
            "predictor": {"pairwise_accuracy": with_p, "spearman": 0.5, "top10_gain_sd": 1.0},
            "predictor_without_signals": {"pairwise_accuracy": without_p, "top10_gain_sd": 0.4},
            "interval_coverage_80": 0.8,
            "free_signals": {
                n: free for n in ("mean_p1p", "adv_std", "frac_nondegenerate", "pass_rate")
            },
        }

    summary = summarise({"a": row(0.76, 0.60), "b": row(0.86, 0.66)})
    assert summary["predictor_pairwise"] == pytest.approx(0.81)
    assert summary["predictor_without_signals_pairwise"] == pytest.approx(0.63)
    assert summary["out_of_domain_score"]["score"] == "predictor"
    assert summary["out_of_domain_score_without_signals"]["score"] == "mean_p1p"


def test_a_probe_past_the_models_context_is_a_note_not_a_crash(tmp_path, signal_predictor):
    pytest.importorskip("torch")
    data = _data(tmp_path)
    probe = tmp_path / "long-probe.jsonl"
    probe.write_text(json.dumps({"prompt": "1+" * 40 + "1=", "answer": "41"}) + "\n")
    args = ["check", str(data), "--probe", str(probe), "--predictor", str(signal_predictor)]
    result = CliRunner().invoke(cli, [*args, *SAMPLING, "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    assert "none of the probe's 1 items fits the model's context of 32 tokens" in result.stderr
    assert "takes gradient signals, not computed (none of the probe's 1 items" in result.stderr
    cohorts = json.loads(result.stdout)["cohorts"]
    assert cohorts and all("signals" not in c for c in cohorts)
