"""The gradient signals' linear-range verdict (datalint.predict.linear_range), by hand values;
and that it imports without torch."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from datalint.predict.linear_range import (
    LINEAR_RANGE_SHARE,
    first_order_lift,
    judge_signals,
    label_step,
    linear_range,
    outside_note,
    percent,
)
from datalint.report._common import gradient_signals_line

REPO = Path(__file__).resolve().parent.parent


def test_the_share_is_a_tenth():
    assert LINEAR_RANGE_SHARE == 0.25


def test_label_step_reads_the_card_and_falls_back_to_calibrates_defaults_per_field():
    assert label_step({"grpo_settings": {"lr": 5e-5, "steps": 4}}) == (5e-5, 4)
    assert label_step({}) == (2e-5, 8)  # CalibrateOptions' lr and steps
    assert label_step({"grpo_settings": {"lr": 1e-3}}) == (1e-3, 8)
    assert label_step({"grpo_settings": {"steps": 3}}) == (2e-5, 3)
    assert label_step({"grpo_settings": {"steps": 3.0}}) == (2e-5, 3)
    for bad in (0, -1e-5, "2e-5", True, None, float("nan"), float("inf")):
        assert label_step({"grpo_settings": {"lr": bad, "steps": 2}}) == (2e-5, 2)
    for bad in (0, -8, 2.5, "8", True, float("inf")):
        assert label_step({"grpo_settings": {"lr": 1e-4, "steps": bad}}) == (1e-4, 8)
    assert label_step({"grpo_settings": ["lr", 1]}) == (2e-5, 8)


def test_the_shipped_cards_label_rule():
    import json

    card = json.loads((REPO / "pretrained" / "lift-predictor.json").read_text())
    assert label_step(card) == (2e-5, 8)


def test_first_order_lift_is_lr_times_steps_times_the_signal():
    assert first_order_lift(100.0, 2e-5, 8) == pytest.approx(0.016)
    assert first_order_lift(-10844.0, 2e-5, 8) == pytest.approx(-1.73504)
    assert first_order_lift(0.0, 2e-5, 8) == 0.0
    assert first_order_lift(None, 2e-5, 8) is None
    assert first_order_lift(float("nan"), 2e-5, 8) is None
    assert first_order_lift(float("inf"), 2e-5, 8) is None


def test_verdict_inside_by_hand():
    # sizes 0.002, 0.004, 0.010: median 0.004 <= 0.25 x 0.7 = 0.175
    got = linear_range([0.004, -0.002, 0.010], 0.7, 2e-5, 8)
    assert got.first_order_lift_median == pytest.approx(0.004)
    assert got.in_linear_range is True
    assert got.n_cohorts == 3 and got.probe_nll == 0.7
    assert got.ratio == pytest.approx(0.004 / 0.7)
    assert got.as_dict(used=True) == {
        "first_order_lift_median": pytest.approx(0.004),
        "probe_nll": 0.7,
        "ratio": pytest.approx(0.004 / 0.7),
        "linear_range_share": 0.25,
        "in_linear_range": True,
        "used": True,
        "n_cohorts": 3,
        "lr": 2e-5,
        "steps": 8,
    }


def test_verdict_outside_on_smollm2s_recorded_signals():
    # worlds/smollm2-135m-instruct: grad_align_adam of the 10 cohorts, probe NLL 0.5906
    adam = [10844.0, 0.0, 0.0, -3837.35, 19269.6, 0.0, 0.0, -14274.2, -1482.7, 3002.0]
    lifts, got = judge_signals(
        {"grpo_settings": {"lr": 2e-5, "steps": 8}},
        [{"grad_align_adam": a} for a in adam],
        0.5906,
    )
    assert lifts[0] == pytest.approx(1.73504) and lifts[1] == 0.0
    # six cohorts step; sizes sorted 0.237, 0.480, 0.614, 1.735, 2.284, 3.083: median of the
    # middle two (0.614 + 1.735) / 2 = 1.1745 nats, 199% of 0.5906
    assert got.n_cohorts == 6 and (got.lr, got.steps) == (2e-5, 8)
    assert got.first_order_lift_median == pytest.approx((3837.35 + 10844.0) / 2 * 1.6e-4)
    assert got.ratio == pytest.approx(1.98867, rel=1e-4)
    assert got.in_linear_range is False
    assert got.as_dict(used=False)["used"] is False


def test_the_median_is_of_sizes_and_leaves_out_missing_and_non_stepping_cohorts():
    # one step of -0.5, and nothing else that steps: the median is 0.5 (not 0, not -0.5)
    got = linear_range([-0.5, 0.0, 0.0, None], 1.0, 1e-5, 1)
    assert got.first_order_lift_median == 0.5 and got.n_cohorts == 1
    assert got.in_linear_range is False  # 0.5 > 0.25 x 1.0
    odd = linear_range([0.3, -0.1, 0.2, -100.0, 0.01], 10.0, 1e-5, 1)
    assert odd.first_order_lift_median == pytest.approx(0.2) and odd.in_linear_range is True
    none_step = linear_range([0.0, None], 0.5, 1e-5, 1)
    assert none_step.first_order_lift_median == 0.0 and none_step.n_cohorts == 0
    assert none_step.in_linear_range is True


def test_the_boundary_exceeds_only_strictly():
    assert linear_range([0.625], 2.5, 1e-5, 1).in_linear_range is True  # 0.625 == 0.25 x 2.5
    assert linear_range([0.6251], 2.5, 1e-5, 1).in_linear_range is False
    assert linear_range([0.25], 2.5, 1e-5, 1, share=0.09).in_linear_range is False
    assert linear_range([0.25], 2.5, 1e-5, 1, share=0.11).in_linear_range is True


def test_no_probe_nll_is_not_judged():
    for nll in (None, float("nan"), float("inf"), -0.1):
        got = linear_range([5.0], nll, 1e-5, 1)
        assert got.in_linear_range is None, nll
    assert linear_range([5.0], None, 1e-5, 1).probe_nll is None
    assert linear_range([5.0], float("nan"), 1e-5, 1).ratio is None
    # a probe the model already knows (NLL 0): any step is outside, no step is inside
    assert linear_range([1e-6], 0.0, 1e-5, 1).in_linear_range is False
    assert linear_range([0.0], 0.0, 1e-5, 1).in_linear_range is True
    assert linear_range([0.0], 0.0, 1e-5, 1).ratio is None


def test_the_note_and_the_summary_line_in_words():
    got = linear_range([1.2], 0.6, 2e-5, 8)
    note = outside_note("lift-predictor.onnx", got)
    assert note == (
        "note: gradient signals outside their linear range: the first-order lift "
        "(lr 2e-05 x 8 steps x grad_align_adam) has a median size of 1.2 nats, 200% of the "
        "probe NLL 0.6 (limit 25%); lift-predictor.onnx predicts from the 23 features alone, "
        "as its card's 'without gradient signals' rows measure"
    )
    assert gradient_signals_line(got.as_dict(used=False)) == (
        "OUTSIDE their linear range: first-order lift 200% of the probe NLL (limit 25%); "
        "not used by the predictor"
    )
    inside = linear_range([0.0071], 0.71, 2e-5, 8).as_dict(used=True)
    assert gradient_signals_line(inside) == (
        "in their linear range: first-order lift 1% of the probe NLL (limit 25%); "
        "used by the predictor"
    )
    unjudged = linear_range([0.1], None, 2e-5, 8).as_dict(used=True)
    assert gradient_signals_line(unjudged) == "linear range not judged (no probe NLL); used"


def test_percent():
    assert [percent(v) for v in (1.99, 0.012, 0.1, 0.0912, 0.00012)] == [
        "199%",
        "1.2%",
        "10%",
        "9.1%",
        "0.012%",
    ]
    assert percent(None) == percent(math.nan) == percent("x") == "-"


def test_the_verdict_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "from datalint.predict.linear_range import judge_signals\n"
        "_, v = judge_signals({}, [{'grad_align_adam': 1e4}], 0.5)\n"
        "print(v.in_linear_range)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == "False"


def test_the_share_separates_the_recorded_worlds(tmp_path):
    """scripts/linear_range_worlds.py on the committed stores: every tiny world with signals is
    inside, SmolLM2-135M-Instruct (its recorded signals and probe NLL) outside."""
    import json

    out = tmp_path / "rows.json"
    script = REPO / "scripts" / "linear_range_worlds.py"
    if not script.exists():  # mutmut's copy of the tree holds the package and tests only
        pytest.skip("scripts/ and worlds/ are not in this tree")
    done = subprocess.run(
        [sys.executable, str(script), "--json", str(out)], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    rows = {r["world"]: r for r in json.loads(out.read_text())["rows"]}
    smol = rows.pop("smollm2-135m-instruct")
    assert smol["in_linear_range"] is False and smol["ratio"] == pytest.approx(1.98867, rel=1e-3)
    assert len(rows) >= 2
    assert all(r["in_linear_range"] is True and r["ratio"] < 0.05 for r in rows.values())
    assert "| smollm2-135m-instruct | 6 of 10 |" in done.stdout
