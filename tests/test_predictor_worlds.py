"""The predictor across worlds, on synthetic stores: loading and pooling worlds, nested
leave-one-world-out, variants, the isotonic map, intervals and their ONNX export, the domain
check, the out-of-domain fallback and local calibration (``fit --prior``)."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from click.testing import CliRunner

from datalint.calibrate import lowo as lowo_mod
from datalint.calibrate import metrics
from datalint.calibrate.dataset import CalibrationDataError
from datalint.calibrate.fit import OUTPUTS, fit_predictor, predictor_to_onnx
from datalint.calibrate.lowo import (
    leave_one_world_out,
    out_of_domain_decision,
    pooled,
    select_variant,
)
from datalint.calibrate.variants import (
    Variant,
    design_matrix,
    fit_variant,
    isotonic_apply,
    isotonic_fit,
)
from datalint.calibrate.worlds import load_worlds
from datalint.cli import cli
from datalint.features_names import FAMILIARITY_FEATURES, FEATURE_NAMES
from datalint.findings import CohortReport, ItemDiagnostic
from datalint.predict import LiftPredictor
from datalint.predict.derived import percentile_ranks
from datalint.predict.domain import fallback_lift_score, predictor_domain
from tests.calibrate_synth import synthetic_store

REPO = Path(__file__).resolve().parent.parent
SETTINGS = {"steps": 8, "lr": 5e-5, "feature_seed": 1000, "similarity_method": "char-ngram"}
# three worlds: lift scales 1x, 0.1x, 3x; familiarity (mean_logprob) scales shifted per model
WORLDS = ((1.0, 0.0), (0.1, -4.0), (3.0, 4.0))


def make_worlds(tmp: Path, n: int = 40, noise: float = 0.1, **kw) -> list[str]:
    paths = []
    for i, (scale, shift) in enumerate(WORLDS):
        path = tmp / f"w{i}.sqlite"
        synthetic_store(
            path,
            n_cohorts=n,
            model=f"model{i}",
            scale=scale,
            logprob_shift=shift,
            familiarity_signal=True,
            seed=i,
            noise=noise,
            missing_logprobs=False,
            settings=kw.get("settings", SETTINGS),
        ).close()
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("worlds")
    paths = make_worlds(tmp)
    sets, method = load_worlds(paths)
    return tmp, paths, sets, method


FAST = (Variant("raw"), Variant("raw", True))


def test_worlds_are_named_and_their_method_recorded(worlds):
    _, _, sets, method = worlds
    assert [c.world for c in sets] == ["model0", "model1", "model2"]
    assert method == "char-ngram"
    x, _, g = pooled(sets, "nll")
    assert x.shape == (120, 26) and list(np.unique(g)) == ["model0", "model1", "model2"]


def test_world_name_option_and_worlds_folder(tmp_path):
    (tmp_path / "worlds" / "tiny-a").mkdir(parents=True)
    path = tmp_path / "worlds" / "tiny-a" / "store.sqlite"
    synthetic_store(path, n_cohorts=8, settings=SETTINGS).close()
    other = tmp_path / "b.sqlite"
    synthetic_store(other, n_cohorts=8, model="modelB", settings=SETTINGS).close()
    sets, _ = load_worlds([str(path), str(other)], names={str(other): "bee"})
    assert [c.world for c in sets] == ["tiny-a", "bee"]


def test_stores_with_different_label_rules_or_methods_are_never_pooled(tmp_path):
    a = tmp_path / "a.sqlite"
    b = tmp_path / "b.sqlite"
    c = tmp_path / "c.sqlite"
    synthetic_store(a, n_cohorts=6, settings=SETTINGS).close()
    synthetic_store(b, n_cohorts=6, model="m2", settings=dict(SETTINGS, lr=3e-5)).close()
    synthetic_store(
        c, n_cohorts=6, model="m3", settings=dict(SETTINGS, similarity_method="minilm")
    ).close()
    with pytest.raises(CalibrationDataError, match="lr=3e-05"):
        load_worlds([str(a), str(b)])
    with pytest.raises(CalibrationDataError, match="similarity method"):
        load_worlds([str(a), str(c)])
    result = CliRunner().invoke(cli, ["evaluate", str(a), str(c)])
    assert result.exit_code == 2
    assert "similarity method" in result.output and "Traceback" not in result.output


def test_store_without_a_recorded_method_is_pooled_with_a_note(tmp_path):
    a = tmp_path / "a.sqlite"
    old = tmp_path / "old.sqlite"
    synthetic_store(a, n_cohorts=6, settings=SETTINGS).close()
    synthetic_store(old, n_cohorts=6, model="m2").close()  # settings lack the key
    notes: list[str] = []
    _, method = load_worlds([str(a), str(old)], notify=notes.append)
    assert method == "char-ngram"
    assert any("old.sqlite" in n and "similarity method" in n for n in notes)


def test_a_gzipped_sql_dump_loads_like_the_store(tmp_path):
    db = tmp_path / "store.sqlite"
    synthetic_store(db, n_cohorts=10, settings=SETTINGS).close()
    dump = tmp_path / "store.sql.gz"
    with sqlite3.connect(db) as conn, gzip.open(dump, "wt", encoding="utf-8") as fh:
        for line in conn.iterdump():
            fh.write(line + "\n")
    (from_db,), _ = load_worlds([str(db)])
    (from_dump,), _ = load_worlds([str(dump)])
    assert from_dump.data_hash == from_db.data_hash
    np.testing.assert_array_equal(from_dump.nll_lifts, from_db.nll_lifts)
    bad = tmp_path / "bad.sql.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(CalibrationDataError, match=r"bad\.sql\.gz"):
        load_worlds([str(bad)])


def test_isotonic_map_is_pool_adjacent_violators_and_monotone():
    kx, ky = isotonic_fit(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0]))
    np.testing.assert_allclose(kx, [1.0, 2.5, 4.0])
    np.testing.assert_allclose(ky, [1.0, 2.5, 4.0])
    rng = np.random.default_rng(0)
    s = rng.normal(size=300)
    kx, ky = isotonic_fit(s, s + rng.normal(size=300))
    assert np.all(np.diff(kx) > 0) and np.all(np.diff(ky) >= 0)
    out = isotonic_apply((kx, ky), np.sort(rng.normal(size=50) * 3))
    assert np.all(np.diff(out) >= 0)


def test_percentile_ranks_hand_computed():
    got = percentile_ranks(np.array([3.0, np.nan, 1.0, 3.0, 2.0]))
    np.testing.assert_allclose(got, [5 / 6, np.nan, 0.0, 5 / 6, 1 / 3])
    assert percentile_ranks(np.array([7.0]))[0] == 0.5


def test_lowo_never_lets_the_held_out_world_into_selection_or_fit(worlds, monkeypatch):
    _, _, sets, _ = worlds
    calls: list[tuple[frozenset, str]] = []
    real_score_rows = lowo_mod._score_rows
    real_select = lowo_mod.select_variant
    outer: list[frozenset] = []

    def spy_score_rows(fitter, variant, train, test, label, intervals=False, seed=0):
        train_worlds = frozenset(c.world for c in train)
        assert test.world not in train_worlds
        calls.append((train_worlds, test.world))
        if outer:  # inside a selection: only the worlds it was given, never the held-out one
            assert train_worlds | {test.world} <= outer[-1]
        return real_score_rows(fitter, variant, train, test, label, intervals, seed)

    def spy_select(train, label, variants, fitter, seed=0):
        outer.append(frozenset(c.world for c in train))
        try:
            return real_select(train, label, variants, fitter, seed)
        finally:
            outer.pop()

    monkeypatch.setattr(lowo_mod, "_score_rows", spy_score_rows)
    monkeypatch.setattr(lowo_mod, "select_variant", spy_select)
    result = leave_one_world_out(sets, variants=FAST)
    assert set(result["by_world"]) == {"model0", "model1", "model2"}
    # each outer fold scored its held-out world from a fit on exactly the other two
    for held in ("model0", "model1", "model2"):
        others = frozenset({"model0", "model1", "model2"} - {held})
        assert (others, held) in calls
    row = result["by_world"]["model1"]
    assert set(row["free_signals"]) == {"mean_p1p", "adv_std", "frac_nondegenerate", "pass_rate"}
    assert 0.0 <= row["interval_coverage_80"] <= 1.0
    assert row["selected_variant"] in {v.name for v in FAST}


def test_selection_on_one_training_world_uses_folds_inside_it(worlds, monkeypatch):
    _, _, sets, _ = worlds
    seen: list[set] = []
    real = lowo_mod._score_rows

    def spy(fitter, variant, train, test, label, intervals=False, seed=0):
        seen.append({c.world for c in train} | {test.world})
        keys = {k for c in train for k in c.cohort_keys}
        assert not keys & set(test.cohort_keys)  # the inner folds are disjoint
        return real(fitter, variant, train, test, label, intervals, seed)

    monkeypatch.setattr(lowo_mod, "_score_rows", spy)
    _, scores = select_variant([sets[0]], "nll", FAST)
    assert seen and all(s == {"model0"} for s in seen)
    assert set(scores) == {"raw", "raw+ranks"}


def test_within_world_ranks_transfer_when_logprob_scales_differ(worlds):
    _, _, sets, _ = worlds
    # model1's mean_logprob is shifted by -4: raw trees learnt on the others never see it
    best, scores = select_variant([sets[0], sets[2]], "nll", FAST)
    assert best.name == "raw+ranks"
    assert scores["raw+ranks"] > scores["raw"]


def test_the_out_of_domain_decision_follows_the_table():
    summary = {
        "predictor_pairwise": 0.60,
        "predictor_top10_gain_sd": 0.9,
        "best_free_signal": "mean_p1p",
        "free_signals": {"mean_p1p": {"pairwise_accuracy": 0.62, "top10_gain_sd": 0.8}},
    }
    assert out_of_domain_decision(summary)["score"] == "mean_p1p"
    summary["predictor_pairwise"] = 0.70
    assert out_of_domain_decision(summary)["score"] == "predictor"
    summary["predictor_top10_gain_sd"] = 0.5  # wins pairwise but loses the top picks
    assert out_of_domain_decision(summary)["score"] == "mean_p1p"


@pytest.mark.parametrize("variant", [Variant("raw"), Variant("rank", True), Variant("world_z")])
def test_onnx_export_matches_xgboost_with_intervals(worlds, variant):
    _, _, sets, _ = worlds
    x, y, g = pooled(sets, "nll")
    model = fit_variant(variant, x, y, g)
    onx = predictor_to_onnx(model, {"k": "v"})
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    assert [o.name for o in session.get_outputs()] == list(OUTPUTS)
    rng = np.random.default_rng(1)
    x_test = x[rng.permutation(len(x))[:50]].copy()
    x_test[rng.random(x_test.shape) < 0.2] = np.nan
    groups = np.array(["model0"] * 50, dtype=object)
    design = design_matrix(x_test, groups, variant).astype(np.float32)
    point, lo, hi = (o.ravel() for o in session.run(None, {"features": design}))
    assert np.max(np.abs(point - model.score(x_test, groups))) < 1e-5
    assert np.max(np.abs(lo - model.lo.predict(design))) < 1e-5
    assert np.max(np.abs(hi - model.hi.predict(design))) < 1e-5
    low, high = model.interval(x_test, groups)
    mapped = model.predict(x_test, groups)
    assert np.all(low <= mapped + 1e-12) and np.all(mapped <= high + 1e-12)


def test_fitted_predictor_loads_and_reproduces_itself_with_map_ranks_and_interval(worlds, tmp_path):
    _, _, sets, _ = worlds
    variant = Variant("rank", True)
    card = fit_predictor(sets, {"worlds": {}}, tmp_path / "p.onnx", variant=variant)
    assert card["variant"] == "rank+ranks"
    assert set(card["derived_inputs"]) == {n for n in card["inputs"] if n.startswith("rank:")}
    assert [w["name"] for w in card["worlds"]] == ["model0", "model1", "model2"]
    predictor = LiftPredictor.load(tmp_path / "p.onnx")
    assert predictor.output_map is not None and len(predictor.inputs) == 23 + len(
        FAMILIARITY_FEATURES
    )
    world = sets[1]
    rows = [
        {n: (None if np.isnan(v) else float(v)) for n, v in zip(FEATURE_NAMES, r, strict=True)}
        for r in world.features
    ]
    got, lo, hi = predictor.predict_with_interval(rows)
    x, y, g = pooled(sets, "nll")
    model = fit_variant(variant, x, y, g)
    want = model.predict(world.features, np.array([world.world] * world.n_cohorts, dtype=object))
    assert np.max(np.abs(got - want)) < 1e-5
    assert np.all(lo <= got) and np.all(got <= hi)
    # the map returns nats: predictions lie within the training lifts' range
    assert got.min() >= y.min() - 1e-9 and got.max() <= y.max() + 1e-9


def _report(cohort_id: str, rates: list[float], **features) -> CohortReport:
    items = [ItemDiagnostic("d.jsonl", i + 1, 8, r) for i, r in enumerate(rates)]
    return CohortReport(cohort_id, [("d.jsonl", 1)], dict(features), items)


def test_domain_detection_and_nearest_world():
    card = {
        "worlds": [
            {
                "name": "easy",
                "model_fingerprint": "aaa",
                "profile": {"features": ["pass_rate"], "mean": [0.9], "sd": [0.05]},
            },
            {
                "name": "hard",
                "model_fingerprint": "bbb",
                "profile": {"features": ["pass_rate"], "mean": [0.1], "sd": [0.05]},
            },
        ]
    }
    reports = [_report("c1", [0.0, 0.25], pass_rate=0.125)]
    inside = predictor_domain(card, "transformers:bbb", reports)
    assert inside.in_domain is True and inside.nearest_world == "hard"
    outside = predictor_domain(card, "transformers:zzz", reports)
    assert outside.in_domain is False and outside.nearest_world == "hard"
    assert outside.lift_score_source == "predictor"  # no map for the default fallback
    unknown = predictor_domain(card, None, reports)
    assert unknown.in_domain is None and unknown.lift_score_source == "predictor"
    assert predictor_domain({}, "x:aaa", reports).in_domain is None  # no card, no worlds
    # an older card names one model_fingerprint
    old = predictor_domain({"name": "p", "model_fingerprint": "aaa"}, "x:aaa", reports)
    assert old.in_domain is True


def test_fallback_score_is_the_mapped_signal_weighted_by_size():
    card = {
        "out_of_domain_score": {"score": "mean_p1p", "reason": "table"},
        "signal_maps": {"mean_p1p": {"x": [0.0, 0.25], "y": [-1.0, 1.0]}},
        "worlds": [{"name": "w", "model_fingerprint": "aaa"}],
    }
    # p(1-p): 0 and 0.25 -> mean 0.125 -> mapped 0.0, 2 items; 0.1875 each -> 0.5, 4 items
    reports = [
        _report("c1", [0.0, 0.5]),
        _report("c2", [0.25, 0.75, 0.25, 0.75]),
    ]
    domain = predictor_domain(card, "t:other", reports)
    assert domain.in_domain is False and domain.lift_score_source == "mean_p1p"
    assert fallback_lift_score(card, "mean_p1p", reports) == pytest.approx((0 * 2 + 0.5 * 4) / 6)


def test_local_calibration_with_a_prior_beats_local_data_alone(tmp_path):
    prior = tmp_path / "prior.sqlite"
    local = tmp_path / "local.sqlite"
    synthetic_store(
        prior, n_cohorts=150, noise=0.3, model="prior", seed=5, settings=SETTINGS
    ).close()
    synthetic_store(
        local, n_cohorts=70, noise=0.3, model="local", seed=6, settings=SETTINGS
    ).close()
    (p_set, l_set), _ = load_worlds([str(prior), str(local)])
    rng = np.random.default_rng(0)
    gains = []
    for draw in range(3):
        order = rng.permutation(l_set.n_cohorts)
        few, test = l_set.subset(order[:10]), l_set.subset(order[10:])
        alone = fit_variant(Variant(), *pooled([few], "nll"), intervals=False, seed=draw)
        x, y, g = pooled([p_set, few], "nll")
        w = np.where(g == "local", 15.0, 1.0)
        helped = fit_variant(Variant(), x, y, g, weights=w, intervals=False, seed=draw)
        groups = np.array(["local"] * test.n_cohorts, dtype=object)
        y_test = test.label("nll")
        gains.append(
            metrics.pairwise_accuracy(helped.predict(test.features, groups), y_test)
            - metrics.pairwise_accuracy(alone.predict(test.features, groups), y_test)
        )
    assert np.mean(gains) > 0.03
    # and through the CLI: the card records the prior and local worlds and the weight
    out = tmp_path / "local.onnx"
    result = CliRunner().invoke(
        cli, ["fit", str(local), "--prior", str(prior), "-o", str(out), "--folds", "3"]
    )
    assert result.exit_code == 0, result.output
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["local_calibration"] == {
        "prior_worlds": ["prior"],
        "local_worlds": ["local"],
        "local_weight": pytest.approx(150 / 70, abs=1e-6),
    }
    assert card["n_cohorts"] == 220


def test_evaluate_and_fit_over_several_stores_as_a_subprocess(worlds, tmp_path):
    _, paths, _, _ = worlds
    out = tmp_path / "eval"
    proc = subprocess.run(
        [sys.executable, "-m", "datalint", "evaluate", *paths[:2], "-o", str(out), "--folds", "3"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Leave one world out" in proc.stdout
    assert (out / "leave-one-world-out.png").stat().st_size > 1000
    table = json.loads((out / "leave-one-world-out.json").read_text())
    assert table["similarity_method"] == "char-ngram"
    assert set(table["leave_one_world_out"]["by_world"]) == {"model0", "model1"}
    onnx_path = tmp_path / "p.onnx"
    result = CliRunner().invoke(
        cli, ["fit", *paths[:2], "-o", str(onnx_path), "--variant", "raw", "--folds", "3"]
    )
    assert result.exit_code == 0, result.output
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    assert card["similarity_method"] == "char-ngram"
    assert card["out_of_domain_score"]["score"] in {"predictor", "mean_p1p", "adv_std",
                                                    "frac_nondegenerate", "pass_rate"}  # fmt: skip
    assert card["leave_one_world_out"]["by_world"]["model1"]["n_cohorts"] == 40
    bad = CliRunner().invoke(cli, ["fit", *paths[:2], "-o", str(onnx_path), "--variant", "nope"])
    assert bad.exit_code == 2 and "nope" in bad.output


def _check_files(tmp: Path, fingerprint: str) -> tuple[Path, Path]:
    """Two cohorts of four items and a rollouts file whose header names ``fingerprint``."""
    from datalint.load.records import Rollout
    from datalint.rollout.base import prompt_hash, rollout_to_dict

    rows, lines = [], []
    wins = {"a": [8, 4, 4, 0], "b": [2, 6, 8, 8]}  # correct rollouts of 8, per item
    for cohort, counts in wins.items():
        for i, k in enumerate(counts):
            prompt = f"{cohort}{i}: what is {i}+{i}?"
            rows.append({"prompt": prompt, "answer": str(2 * i), "cohort": cohort})
            rollouts = [Rollout(str(2 * i) if j < k else "no") for j in range(8)]
            lines.append(
                {
                    "prompt_sha256": prompt_hash(prompt),
                    "rollouts": [rollout_to_dict(r) for r in rollouts],
                }
            )
    data = tmp / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    header = {"datalint": "rollouts", "version": 1, "backend": "fake", "params": {},
              "fingerprint": fingerprint}  # fmt: skip
    rollouts = tmp / "rollouts.jsonl"
    rollouts.write_text("".join(json.dumps(x) + "\n" for x in [header, *lines]))
    return data, rollouts


def test_check_reports_domain_interval_and_falls_back_out_of_domain(worlds, tmp_path):
    _, _, sets, _ = worlds
    onnx_path = tmp_path / "p.onnx"
    card = fit_predictor(sets, {"worlds": {}}, onnx_path)  # one fit, no LOWO: falls back
    assert card["out_of_domain_score"]["score"] == "mean_p1p"
    knots = card["signal_maps"]["mean_p1p"]

    def run(fingerprint: str):  # type: ignore[no-untyped-def]
        data, rollouts = _check_files(tmp_path, fingerprint)
        args = ["check", str(data), "--rollouts", str(rollouts), "--predictor", str(onnx_path)]
        result = CliRunner().invoke(cli, [*args, "--format", "json", "--no-cache"])
        assert result.exit_code in (0, 1), result.output
        return json.loads(result.stdout), result.stderr

    inside, err_in = run("fake:model1")
    domain = inside["summary"]["predictor_domain"]
    assert domain["in_domain"] is True and domain["nearest_world"] == "model1"
    assert domain["lift_score_source"] == "predictor" and "not fit on" not in err_in
    lifts = [c["predicted_lift"] for c in inside["cohorts"]]
    assert inside["summary"]["lift_score"] == pytest.approx(np.mean(lifts))
    for c in inside["cohorts"]:
        lo, hi = c["predicted_lift_interval"]
        assert lo <= c["predicted_lift"] <= hi

    outside, err_out = run("fake:someone-else")
    domain = outside["summary"]["predictor_domain"]
    assert domain["in_domain"] is False and domain["lift_score_source"] == "mean_p1p"
    assert "not fit on this model" in err_out and "mean_p1p" in err_out
    # per-cohort predictions are the predictor's own, whatever gates the dataset
    assert [c["predicted_lift"] for c in outside["cohorts"]] == pytest.approx(lifts)
    p1p = [np.mean([r * (1 - r) for r in rates]) for rates in
           ([1, 0.5, 0.5, 0], [0.25, 0.75, 1, 1])]  # fmt: skip
    want = np.mean(np.interp(p1p, knots["x"], knots["y"]))
    assert outside["summary"]["lift_score"] == pytest.approx(want, abs=1e-6)

    data, rollouts = _check_files(tmp_path, "fake:someone-else")
    rich = CliRunner().invoke(
        cli,
        ["check", str(data), "--rollouts", str(rollouts), "--predictor", str(onnx_path),
         "--no-cache"],
    )  # fmt: skip
    assert "Predictor domain" in rich.stdout and "OUT of domain" in rich.stdout
    assert "80%" in rich.stdout  # the interval column's header, "Lift" over "80%"
    assert rich.stdout.count("e-") >= 2 and ".." in rich.stdout


def test_older_predictors_have_no_interval_and_every_fallback_signal_has_a_map(worlds, tmp_path):
    from tests.onnx_models import constant

    older = LiftPredictor.load(constant(tmp_path / "older.onnx", 0.25))  # one output: no interval
    assert not older.has_interval
    row = dict.fromkeys(FEATURE_NAMES, 0.5)
    lift, lo, hi = older.predict_with_interval([row])
    assert lo is None and hi is None and np.isfinite(lift[0])
    _, _, sets, _ = worlds
    card = fit_predictor(sets[:1], {"worlds": {}}, tmp_path / "one.onnx", variant=Variant())
    assert set(card["signal_maps"]) == {"mean_p1p", "adv_std", "frac_nondegenerate", "pass_rate"}
    for knots in card["signal_maps"].values():
        assert np.all(np.diff(knots["x"]) > 0) and np.all(np.diff(knots["y"]) >= 0)


def test_isotonic_map_pools_tied_scores_first():
    # scores 1,1,2: the tie averages to y 2.0 at x 1, then 3.0 at x 2
    kx, ky = isotonic_fit(np.array([1.0, 1.0, 2.0]), np.array([1.0, 3.0, 3.0]))
    np.testing.assert_allclose(kx, [1.0, 2.0])
    np.testing.assert_allclose(ky, [2.0, 3.0])
