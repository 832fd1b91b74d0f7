"""The ship-or-keep decision of scripts/build_predictor_from_worlds.py, on hand-made tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "build_predictor_from_worlds.py"
spec = importlib.util.spec_from_file_location("build_predictor_from_worlds", SCRIPT)
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


def _row(pred: float, p1p: float, without: float | None = None) -> dict:
    row = {
        "predictor": {"pairwise_accuracy": pred},
        "free_signals": {"mean_p1p": {"pairwise_accuracy": p1p}},
    }
    if without is not None:
        row["predictor_without_signals"] = {"pairwise_accuracy": without}
    return row


def _never() -> dict:
    raise AssertionError("the no-signal comparison is only for a tie")


def test_a_clear_win_ships_without_the_tie_breaker() -> None:
    lowo = {"a": _row(0.80, 0.60, 0.70), "b": _row(0.70, 0.60, 0.60)}
    out = build.decide(3, ["a", "b"], lowo, {"a": 0.70, "b": 0.70}, _never)
    assert out["ship"] is True
    assert out["candidate_pairwise"] == pytest.approx(0.75)
    assert out["shipped_pairwise"] == pytest.approx(0.70)
    assert "candidate_pairwise_without_signals" not in out


def test_a_loss_or_a_loss_to_mean_p1p_keeps_the_shipped_one() -> None:
    lowo = {"a": _row(0.65, 0.60)}
    assert build.decide(2, ["a"], lowo, {"a": 0.70}, _never)["ship"] is False
    lowo = {"a": _row(0.75, 0.76)}
    assert build.decide(2, ["a"], lowo, {"a": 0.60}, _never)["ship"] is False


def test_a_tie_is_broken_by_the_predictors_without_signals() -> None:
    lowo = {"a": _row(0.762, 0.57, 0.66), "b": _row(0.762, 0.57, 0.58)}
    shipped = {"a": 0.762 + 0.5e-4, "b": 0.762}  # within TIE: two lines on one signal
    keep = build.decide(4, ["a", "b"], lowo, shipped, lambda: {"a": 0.685, "b": 0.608})
    assert keep["ship"] is False
    assert keep["candidate_pairwise_without_signals"] == pytest.approx(0.62)
    assert keep["shipped_pairwise_without_signals"] == pytest.approx(0.6465)
    assert "without them: candidate 0.620, shipped 0.647" in keep["reason"]
    ship = build.decide(4, ["a", "b"], lowo, shipped, lambda: {"a": 0.60, "b": 0.60})
    assert ship["ship"] is True


def test_no_world_to_judge_on_keeps_the_shipped_one() -> None:
    assert "one world" in build.decide(1, [], {}, {}, _never)["reason"]
    assert build.decide(3, [], {}, {}, _never)["ship"] is False
