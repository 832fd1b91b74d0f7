"""The Gate's comparisons at their boundaries, and a missing (NaN) metric never firing."""

from __future__ import annotations

import math

from datalint.engine import Gate
from datalint.load.records import Source
from datalint.rulebook import rules_by_code

HERE = Source("d.jsonl", 3)


def _fired(code: str, feature: str, value: float) -> list[str]:
    gate = Gate([rules_by_code()[code]])
    gate.observe(feature, value, HERE, cohort="c0")
    return [f.code for f in gate.findings]


def test_a_nan_metric_never_fires_a_rule() -> None:
    # RW003: frac_nondegenerate must be at least 0.25; every comparison with NaN is False
    assert _fired("RW003", "frac_nondegenerate", math.nan) == []
    assert _fired("RW001", "frac_all_correct", math.nan) == []
    assert _fired("D001", "exact_duplicate", math.nan) == []
    assert _fired("RW003", "frac_nondegenerate", 0.0) == ["RW003"]


def test_must_be_at_least_passes_at_exactly_the_threshold() -> None:
    rule = rules_by_code()["RW003"]
    assert rule.comparator == "must_be_at_least" and rule.threshold == 0.25
    assert _fired("RW003", "frac_nondegenerate", 0.25) == []
    assert _fired("RW003", "frac_nondegenerate", 0.2499) == ["RW003"]
    assert rule.passes(0.25) and not rule.passes(0.2499)


def test_must_be_at_most_and_less_than_at_their_boundaries() -> None:
    assert _fired("RW001", "frac_all_correct", 0.5) == []  # at most 0.5
    assert _fired("RW001", "frac_all_correct", 0.5001) == ["RW001"]
    assert _fired("D003", "probe_ngram_overlap", 0.5) == ["D003"]  # less than 0.5
    assert _fired("D003", "probe_ngram_overlap", 0.4999) == []


def test_the_finding_carries_the_source_and_cohort() -> None:
    gate = Gate([rules_by_code()["RW003"]])
    gate.observe("frac_nondegenerate", 0.0, HERE, cohort="c7", cohort_id="c7")
    (finding,) = gate.findings
    assert (finding.path, finding.line, finding.cohort, finding.level) == (
        "d.jsonl",
        3,
        "c7",
        "error",
    )


def test_the_finding_carries_the_rule_name_and_rendered_message() -> None:
    gate = Gate([rules_by_code()["RW003"]])
    context = {"n_disagree": 1, "n_items": 8, "cohort_id": "c7", "lines": "3-10"}
    gate.observe("frac_nondegenerate", 0.125, HERE, cohort="c7", **context)
    (finding,) = gate.findings
    assert (finding.code, finding.name) == ("RW003", "low-disagreement")
    assert finding.message == (
        "only 1 of 8 problems in cohort c7 (3-10) split the model's attempts: frac_nondegenerate "
        "0.125 is under 0.25, so GRPO gets (almost) no gradient from this cohort"
    )


def test_a_passing_rule_does_not_stop_the_next_rule_on_the_same_metric() -> None:
    at_most = rules_by_code()["RW001"]  # frac_all_correct at most 0.5
    stricter = at_most.with_overrides({"must_be_at_most": 0.1, "level": "warning"})
    for rules in ([at_most, stricter], [stricter, at_most]):
        gate = Gate(rules)
        gate.observe("frac_all_correct", 0.25, HERE)
        assert [(f.code, f.level) for f in gate.findings] == [("RW001", "warning")]
        gate.observe("frac_all_correct", math.nan, HERE)
        assert len(gate.findings) == 1
    assert Gate([at_most]).wants("frac_all_correct") and not Gate([at_most]).wants("pass_rate")
