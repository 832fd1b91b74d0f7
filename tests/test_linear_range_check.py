"""`check` with gradient signals outside their linear range: the predictor is fed none (its
prediction is the no-signal one), and JSON, rich and stderr say so; inside (the shipped tiny
policy), they are fed and the report says that too."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("transformers")

from datalint.cli import cli
from datalint.features_names import FEATURE_NAMES, GRADIENT_SIGNALS
from datalint.predict import LiftPredictor, default_predictor_path

REPO = Path(__file__).resolve().parent.parent
PROBE = str(REPO / "examples" / "probe.jsonl")
SAMPLING = ["--rollouts-per-item", "4", "--max-new-tokens", "6", "--no-cache"]
NOTE = "note: gradient signals outside their linear range"
SCALE = 1e5  # tiny-policy signals (tens) times this: a first-order lift of hundreds of nats


def _data(tmp: Path) -> Path:
    data = tmp / "d.jsonl"
    lines = (REPO / "examples" / "vendor.jsonl").read_text().splitlines()[:8]
    data.write_text("\n".join(lines) + "\n")
    return data


def _check(*args: str) -> tuple[dict, str]:
    result = CliRunner().invoke(
        cli, ["check", *args, "--probe", PROBE, *SAMPLING, "--format", "json"]
    )
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout), result.stderr


def _lifts(report: dict) -> list[float]:
    return [c["predicted_lift"] for c in report["cohorts"]]


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory) -> tuple[Path, dict]:
    """The shipped predictor without signals: what it predicts from the 23 alone."""
    data = _data(tmp_path_factory.mktemp("plain"))
    report, _ = _check(str(data), "--no-gradient-signals")
    assert all("signals" not in c for c in report["cohorts"])
    assert report["summary"]["predictor_domain"]["gradient_signals"] is None
    return data, report


def test_the_shipped_tiny_policys_signals_are_inside_and_fed(plain_run):
    data, plain = plain_run
    report, stderr = _check(str(data))
    gs = report["summary"]["predictor_domain"]["gradient_signals"]
    assert gs["in_linear_range"] is True and gs["used"] is True
    assert (gs["lr"], gs["steps"], gs["linear_range_share"]) == (2e-5, 8, 0.25)
    # the probe NLL of the tiny policy on examples/probe.jsonl is a fraction of a nat to a few
    assert 0.05 < gs["probe_nll"] < 5
    assert gs["ratio"] == pytest.approx(gs["first_order_lift_median"] / gs["probe_nll"])
    assert gs["ratio"] < 0.1
    for cohort in report["cohorts"]:
        adam = cohort["signals"]["grad_align_adam"]
        assert cohort["first_order_lift"] == pytest.approx(2e-5 * 8 * adam)
        assert "first_order_lift" not in cohort["signals"]  # reported, never an input
    stepping = sorted(
        abs(c["first_order_lift"]) for c in report["cohorts"] if c["first_order_lift"]
    )
    assert gs["n_cohorts"] == len(stepping) > 0
    assert gs["first_order_lift_median"] == pytest.approx(statistics.median(stepping))
    # fed: the shipped card's first-order line, not the no-signal trees
    card = json.loads(default_predictor_path().with_suffix(".json").read_text())
    beta, alpha = card["first_order"]["beta"], card["first_order"]["alpha"]
    want = [beta * c["signals"]["grad_align_adam"] + alpha for c in report["cohorts"]]
    assert _lifts(report) == pytest.approx(want, rel=1e-3, abs=1e-6)
    assert _lifts(report) != pytest.approx(_lifts(plain), rel=1e-3, abs=1e-6)
    assert NOTE not in stderr


def test_forced_large_signals_are_left_out_and_every_format_says_so(plain_run, monkeypatch):
    import datalint.signals.grad_align as grad_align

    real = grad_align.measure_alignments

    def scaled(*args, **kwargs):
        out = real(*args, **kwargs)
        signals = [{k: v * SCALE for k, v in s.items()} for s in out.signals]
        return grad_align.Alignments(signals, out.note, out.probe_nll)

    monkeypatch.setattr(grad_align, "measure_alignments", scaled)
    data, plain = plain_run
    report, stderr = _check(str(data))
    gs = report["summary"]["predictor_domain"]["gradient_signals"]
    assert gs["in_linear_range"] is False and gs["used"] is False
    assert gs["ratio"] > 0.1
    assert _lifts(report) == pytest.approx(_lifts(plain), rel=1e-6, abs=1e-9)
    # the signals are still reported, as measured (scaled here)
    for cohort in report["cohorts"]:
        assert set(cohort["signals"]) == set(GRADIENT_SIGNALS)
        assert set(cohort["features"]) == set(FEATURE_NAMES)
    assert any(abs(c["signals"]["grad_align_adam"]) > 1e5 for c in report["cohorts"])
    assert stderr.count(NOTE) == 1
    assert "lift-predictor.onnx predicts from the 23 features alone" in stderr
    assert "takes gradient signals, not computed" not in stderr  # they were computed
    rich = CliRunner().invoke(
        cli,
        ["check", str(data), "--probe", PROBE, *SAMPLING, "--format", "rich"],
        env={"COLUMNS": "200"},
    )
    assert rich.exit_code in (0, 1), rich.output
    line = next(ln for ln in rich.stdout.splitlines() if "Gradient signals" in ln)
    assert "OUTSIDE their linear range" in line and "not used by the predictor" in line
    sarif = CliRunner().invoke(
        cli, ["check", str(data), "--probe", PROBE, *SAMPLING, "--format", "sarif"]
    )
    properties = json.loads(sarif.stdout)["runs"][0]["properties"]
    assert properties["summary"]["predictor_domain"]["gradient_signals"]["used"] is False


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "datalint", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def test_a_card_whose_label_rule_steps_far_leaves_the_signals_out_in_a_real_process(tmp_path):
    """The same predictor, its card's label rule at lr 0.2 (10^4 x the shipped 2e-5): the same
    measured signals now predict a first-order lift of many nats, so they are not fed."""
    onnx = tmp_path / "far.onnx"
    shutil.copyfile(default_predictor_path(), onnx)
    card = json.loads(default_predictor_path().with_suffix(".json").read_text())
    card["grpo_settings"]["lr"] = 0.2
    # and a card that was not fit on this model, whose table gates by mean p(1-p) only when
    # the predictor goes without its signals: which decision applies shows how they were fed
    for world in card["worlds"]:
        world["model_fingerprint"] = "0" * 64
    card["out_of_domain_score"] = {"score": "predictor", "reason": "with signals"}
    card["out_of_domain_score_without_signals"] = {"score": "mean_p1p", "reason": "without"}
    onnx.with_suffix(".json").write_text(json.dumps(card))
    assert LiftPredictor.load(onnx).uses_signals
    data = _data(tmp_path)
    base = ["check", str(data), "--probe", PROBE, "--predictor", str(onnx), *SAMPLING]
    far = _run(*base, "--format", "json", cwd=tmp_path)
    plain = _run(*base, "--format", "json", "--no-gradient-signals", cwd=tmp_path)
    assert far.returncode in (0, 1) and plain.returncode == far.returncode, far.stderr
    report = json.loads(far.stdout)
    gs = report["summary"]["predictor_domain"]["gradient_signals"]
    assert gs["in_linear_range"] is False and gs["used"] is False and gs["lr"] == 0.2
    domain = report["summary"]["predictor_domain"]
    assert domain["in_domain"] is False and domain["lift_score_source"] == "mean_p1p"
    assert _lifts(report) == pytest.approx(_lifts(json.loads(plain.stdout)), rel=1e-6)
    assert all("signals" in c for c in report["cohorts"])
    assert f"{NOTE}: the first-order lift (lr 0.2 x 8 steps x grad_align_adam)" in far.stderr
    assert "far.onnx predicts from the 23 features alone" in far.stderr
    assert "Traceback" not in far.stderr
