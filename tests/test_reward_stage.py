"""The reward stage: grading, features, diagnostics and the findings it raises through the gate."""

from __future__ import annotations

import pytest

from datalint.engine import Gate
from datalint.features_names import FEATURE_NAMES
from datalint.load.records import Cohort, Item, Rollout, Source
from datalint.reward_stage import describe_lines, evaluate_cohorts
from datalint.rulebook import rules_by_code

MY_RULES = ("S011", "RW001", "RW002", "RW003", "RW101", "RW102", "T001")


def gate(*codes: str) -> Gate:
    rules = rules_by_code()
    return Gate(rules[c] for c in codes or MY_RULES)


def item(line: int, answer: str, completions: list[str], **kw) -> Item:
    rollouts = [Rollout(c) for c in completions]
    return Item(source=Source("d.jsonl", line), answer=answer, rollouts=rollouts, **kw)


def worked_example(cohort_id: str = "c1", first_line: int = 1) -> Cohort:
    # the seed's cohort: 5/8 (learn), 8/8 (known), 0/8 (no foothold), graded by "exact"
    return Cohort(
        cohort_id,
        [
            item(first_line, "5", ["5", "4", "5", "5", "6", "5", "4", "5"]),
            item(first_line + 1, "4", ["4"] * 8),
            item(first_line + 2, "0", ["1"] * 8),
        ],
    )


def test_worked_example_report_and_item_findings() -> None:
    g = gate()
    [report] = evaluate_cohorts([worked_example()], None, g)
    assert tuple(report.features) == FEATURE_NAMES
    assert report.features["frac_nondegenerate"] == pytest.approx(1 / 3)
    assert report.features["adv_std"] == pytest.approx(0.5399574, abs=1e-6)
    assert report.features["target_similarity"] is None
    assert report.lines == [("d.jsonl", 1), ("d.jsonl", 2), ("d.jsonl", 3)]
    assert [(d.line, d.pass_rate, d.flags) for d in report.items] == [
        (1, 0.625, ["disagree"]),
        (2, 1.0, ["all_correct"]),
        (3, 0.0, ["all_wrong"]),
    ]
    # a third of the groups per dead end and a third disagreeing: no cohort rule fires;
    # the item rules point at the known line and the no-foothold line
    assert sorted((f.code, f.line) for f in g.findings) == [("RW101", 2), ("RW102", 3)]
    known = next(f for f in g.findings if f.code == "RW101")
    assert known.message.startswith("already known: all 8 rollouts pass")
    assert known.cohort == "c1" and known.path == "d.jsonl"


def test_grading_fills_rewards_and_regrades_replayed_ones() -> None:
    replayed = Rollout("wrong", reward=1.0)  # a forged pass
    cohort = Cohort("c", [Item(Source("d.jsonl", 4), "7", rollouts=[Rollout("7"), replayed])])
    g = gate("RW003", "RW004")
    [report] = evaluate_cohorts([cohort], None, g)
    assert cohort.items[0].rollouts[0].reward == 1.0
    assert replayed.reward == 0.0
    assert report.items[0].flags == ["disagree"]  # 1 of 2, not "all_correct" as forged
    (mismatch,) = [f for f in g.findings if f.code == "RW004"]
    assert (mismatch.path, mismatch.line) == ("d.jsonl", 4)
    assert "1 of 1 replayed rewards" in mismatch.message
    assert "claimed 1.0, graded 0.0" in mismatch.message


def test_cohort_rules_fire_at_the_first_line_with_counts() -> None:
    flat = Cohort(
        "flat",
        [
            item(10, "4", ["4", "4"]),
            item(11, "8", ["8", "8"]),
            item(12, "8", ["8", "8"]),
            item(14, "1", ["2", "3"]),
        ],
    )
    g = gate("RW001", "RW002", "RW003")
    evaluate_cohorts([flat], None, g)
    by_code = {f.code: f for f in g.findings}
    assert set(by_code) == {"RW001", "RW003"}  # 3/4 all correct; 0/4 disagree; 1/4 all wrong
    assert by_code["RW001"].line == 10 and by_code["RW001"].level == "warning"
    assert by_code["RW001"].message.startswith(
        "3 of 4 problems in cohort flat (lines 10-12, 14) are solved by every rollout: "
        "frac_all_correct 0.75 is over 0.5"
    )
    assert by_code["RW003"].level == "error"
    assert "only 0 of 4 problems" in by_code["RW003"].message


def test_verifier_errors_become_item_findings_not_crashes() -> None:
    cohort = Cohort(
        "c",
        [
            item(1, r"\d+ (cm", ["12 cm", "4 mm"], verifier="regex"),
            item(2, "12", ["12", "13"], verifier="numeric"),
        ],
    )
    g = gate("S011", "RW003")
    [report] = evaluate_cohorts([cohort], None, g)
    [error] = g.findings
    assert (error.code, error.line, error.level) == ("S011", 1, "error")
    assert error.message.startswith("verifier 'regex' failed on 2 of 2 rollouts: gold answer")
    assert report.items[0].flags == ["ungraded"]
    assert report.features["n_groups"] == 1  # only the numeric item has rewards
    assert report.features["frac_nondegenerate"] == 1.0


def test_rollouts_given_per_cohort_or_by_id_and_similarity_passed_through() -> None:
    a, b = worked_example("a", 1), worked_example("b", 20)
    per_item = [[list(it.rollouts or []) for it in c.items] for c in (a, b)]
    for it in (*a.items, *b.items):
        it.rollouts = None  # only the explicit argument holds them now
    g = gate("T001")
    by_position = evaluate_cohorts([a, b], per_item, g, similarity={"a": 0.9, "b": 0.1})
    assert [r.features["target_similarity"] for r in by_position] == [0.9, 0.1]
    [low] = g.findings
    assert (low.code, low.line, low.cohort) == ("T001", 20, "b")
    assert low.message == (
        "cohort b (lines 20-22) looks unlike the probe: target_similarity 0.1 is under 0.3"
    )
    by_id = evaluate_cohorts([a, b], {"b": per_item[1]}, gate())
    assert by_id[0].features["n_groups"] == 0  # no rollouts for "a" in the mapping
    assert by_id[1].features["adv_std"] == pytest.approx(0.5399574, abs=1e-6)


def test_rollouts_that_do_not_match_the_cohort_are_refused() -> None:
    with pytest.raises(ValueError, match="rollouts for 1 items, but it has 3"):
        evaluate_cohorts([worked_example()], [[[Rollout("5")]]], gate())


@pytest.mark.parametrize(
    ("sources", "text"),
    [
        ([("a", 3), ("a", 4), ("a", 5), ("a", 9)], "lines 3-5, 9"),
        ([("a", 7)], "line 7"),
        ([("a", 1), ("b", 1), ("a", 2)], "lines a:1-2, b:1"),
        ([("a", n) for n in range(1, 30, 2)], "lines 1, 3, 5, 7, 9, 11, ..."),
    ],
)
def test_describe_lines(sources: list[tuple[str, int]], text: str) -> None:
    assert describe_lines([Source(p, n) for p, n in sources]) == text
