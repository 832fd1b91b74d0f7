"""The SmolLM2 world check's pure parts: cohort choice from pass rates, slips, per-cohort lines.

The script itself (scripts/smollm2_world_check.py) samples and trains a 135M model for about an
hour, so it is not run here; these tests use hand-made pass-rate tables and store rows.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from datalint.world.check import KINDS, choose_check_cohorts
from datalint.world.subjects import Problem

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "smollm2_world_check.py"


@pytest.fixture(scope="module")
def script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("smollm2_world_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Size:
    cohort_size = 2


def _pool(rates: list[float]) -> list[tuple[Problem, float]]:
    return [
        (Problem("add", 1, f"What is {i} + 1?", str(i + 1), str(i + 2)), r)
        for i, r in enumerate(rates)
    ]


def test_counts_per_kind_choose_each_kind_from_its_pass_rates() -> None:
    rates = [0.0, 1.0, 0.5, 0.25, 0.0, 1.0, 0.75, 0.125, 0.375, 0.625, 0.0, 1.0]
    pool = _pool(rates)
    plan = {"frontier": 2, "scrambled": 1, "no_foothold": 1, "known": 1}
    cohorts = choose_check_cohorts(_Size(), pool, plan, seed=3)
    # round j takes every kind still owed a cohort, in KINDS order
    assert [c.kind for c in cohorts] == [*KINDS, "frontier"]
    assert [c.id for c in cohorts][-1] == "frontier-1"
    rate_of = {p.prompt: r for p, r in pool}
    for c in cohorts:
        got = [rate_of[p.prompt] for p in c.problems]
        assert len(got) == 2
        if c.kind in ("frontier", "scrambled"):
            assert all(0 < r < 1 for r in got)
        elif c.kind == "known":
            assert got == [1.0, 1.0]
        else:
            assert got == [0.0, 0.0]
    used = [p.prompt for c in cohorts for p in c.problems]
    assert len(used) == len(set(used)) == 10
    scrambled = next(c for c in cohorts if c.scrambled)
    assert scrambled.answers() == [p.slip for p in scrambled.problems]


def test_a_kind_left_out_of_the_counts_gets_no_cohort() -> None:
    cohorts = choose_check_cohorts(_Size(), _pool([0.5] * 6), {"frontier": 3}, seed=0)
    assert [c.kind for c in cohorts] == ["frontier"] * 3


def test_slip_is_the_most_written_wrong_number(script) -> None:  # type: ignore[no-untyped-def]
    written = ["The answer is 5.", "The answer is 7.", "The answer is 6.", "The answer is 7.", "?"]
    assert script.slip_of(written, "6") == ("7", True)
    assert script.slip_of(["The answer is 6."] * 8, "6") == ("7", False)
    assert script.slip_of(["no number here"], "12") == ("13", False)


def test_plan_cohorts_follows_the_plan_and_scrambles_with_slips(script) -> None:  # type: ignore[no-untyped-def]
    rates = [0.5, 0.25, 0.75, 0.125, 0.375, 0.625, 0.875, 0.5, 0.25, 0.75, 0.5, 0.5]
    rates += [0.0] * 4 + [1.0] * 4
    problems = [
        {
            "subject": "add1",
            "level": 1,
            "prompt": f"What is {i} + 2?",
            "answer": str(i + 2),
            "slip": str(i + 3),
            "pass_rate": r,
        }
        for i, r in enumerate(rates)
    ]
    cohorts = script.plan_cohorts({"problems": problems}, 2)
    kinds = [c.kind for c in cohorts]
    assert {k: kinds.count(k) for k in KINDS} == script.PLAN
    for c in cohorts:
        expected = [p.slip for p in c.problems] if c.kind == "scrambled" else None
        assert c.scrambled == (c.kind == "scrambled")
        assert c.answers() == (expected or [p.answer for p in c.problems])


def test_cohort_rows_read_rates_and_lifts_from_the_store(script) -> None:  # type: ignore[no-untyped-def]
    pool = _pool([0.5, 0.25, 0.0, 0.0])
    cohorts = choose_check_cohorts(_Size(), pool, {"frontier": 1, "no_foothold": 1}, seed=0)
    runs = [
        {
            "cohort_id": "frontier-0",
            "item_pass_rates": json.dumps([0.5, 0.25]),
            "lift": 0.004,
            "reward_lift": 0.1,
            "total_s": 200.0,
            "features": json.dumps({"adv_std": 0.4}),
        },
        {
            "cohort_id": "no_foothold-0",
            "item_pass_rates": json.dumps([0.0, 0.0]),
            "lift": -0.001,
            "reward_lift": None,
            "total_s": 100.0,
            "features": json.dumps({"adv_std": 0.0}),
        },
    ]
    rows = script.cohort_rows(cohorts, runs)
    assert [r["cohort"] for r in rows] == ["frontier-0", "no_foothold-0"]
    assert rows[0]["disagreement"] == 1.0
    assert rows[0]["mean_p1p"] == pytest.approx((0.25 + 0.1875) / 2)
    assert rows[0]["nll_lift_per_seed"] == [0.004]
    assert rows[1]["disagreement"] == 0.0 and rows[1]["reward_lift"] == 0.0
    # a cohort without a stored run has no line
    assert script.cohort_rows(cohorts, runs[:1])[0]["cohort"] == "frontier-0"
    assert len(script.cohort_rows(cohorts, runs[:1])) == 1


def test_pool_problems_are_distinct_never_a_worked_shot_and_correct(script) -> None:  # type: ignore[no-untyped-def]
    problems = script.pool_problems(8)
    prompts = [p.prompt for p in problems]
    assert len(problems) == 8 * len(script.SUBJECTS)
    assert len(set(prompts)) == len(prompts)
    assert not {q for q, _ in script.SHOTS} & set(prompts)
    assert prompts == [p.prompt for p in script.pool_problems(8)]  # seeded
    for p in problems:
        a, op, b = p.prompt.removeprefix("What is ").removesuffix("?").split()
        assert int(p.answer) == {"+": int(a) + int(b), "*": int(a) * int(b)}[op]
