from __future__ import annotations

import importlib.util
import sys

import pytest
from static_support import gate_for, item, run, where

from datalint.static import math_answer
from datalint.static.answer_leak import AnswerLeak
from datalint.static.base import SkippedCheck, StaticOptions, build_static_checks, skip_notes
from datalint.static.exact_duplicates import ExactDuplicates
from datalint.static.math_answer import MathAnswer
from datalint.static.near_duplicates import NearDuplicates
from datalint.static.probe_contamination import ProbeContamination
from datalint.static.prompt_length import PromptLength

HAS_MATH_VERIFY = importlib.util.find_spec("math_verify") is not None


def test_empty_and_whitespace_prompts_fire_s008() -> None:
    items = [item(1, ""), item(2, " \n\t "), item(3, "a"), item(4, None, messages=[])]  # type: ignore[arg-type]
    found = run(PromptLength(), items, gate_for("S008"))
    assert where(found) == [("d.jsonl", 1, "S008"), ("d.jsonl", 2, "S008"), ("d.jsonl", 4, "S008")]
    assert found[0].message == "prompt is empty (whitespace only counts as empty)"


def test_overlong_prompt_warns_above_the_limit_only() -> None:
    items = [item(1, "x" * 20_000), item(2, " " + "x" * 20_001 + " ")]
    found = run(PromptLength(), items, gate_for("S008", "S009"))
    assert where(found) == [("d.jsonl", 2, "S009")]
    assert found[0].message == "prompt has 20001 characters (more than 20000)"
    assert found[0].level == "warning"


def test_overlong_limit_is_configurable() -> None:
    found = run(PromptLength(), [item(1, "x" * 41)], gate_for("S009", S009={"must_be_at_most": 40}))
    assert found[0].message == "prompt has 41 characters (more than 40)"


class CountingParser:
    def __init__(self, readable: set[str]) -> None:
        self.readable = readable
        self.calls: list[str] = []

    def __call__(self, gold: str) -> bool:
        self.calls.append(gold)
        return gold in self.readable


def test_math_check_reads_only_math_items_and_caches_answers() -> None:
    parser = CountingParser({"\\frac{1}{2}"})
    items = [
        item(1, "q", "\\frac{1}{2}", verifier="math"),
        item(2, "q", "x\\", verifier="math"),
        item(3, "q", "x\\", verifier="math"),
        item(4, "q", "x\\", verifier="exact"),
        item(5, "q", "-12.5", verifier="math"),
        item(6, "q", 7, verifier="math"),
        item(7, "q", "   ", verifier="math"),
    ]
    found = run(MathAnswer(parser), items, gate_for("S010"))
    # line 7's blank gold is S013's (unverifiable gold), not reported twice
    assert where(found) == [("d.jsonl", 2, "S010"), ("d.jsonl", 3, "S010")]
    assert found[0].message == "math-verify cannot parse the gold answer 'x\\'"
    assert parser.calls == ["\\frac{1}{2}", "x\\"]  # numbers and repeats never reach the parser


@pytest.mark.skipif(not HAS_MATH_VERIFY, reason="needs the 'math' extra")
def test_math_check_with_math_verify() -> None:
    check = math_answer.build()
    assert isinstance(check, MathAnswer)
    items = [
        item(1, "q", "\\frac{1}{2}", verifier="math"),
        item(2, "q", "(1, 2)", verifier="math"),
        item(3, "q", "x\\", verifier="math"),
        item(4, "q", "\\boxed{}", verifier="math"),
    ]
    assert [f.line for f in run(check, items, gate_for("S010"))] == [3, 4]


def test_math_check_is_skipped_with_a_note_without_math_verify(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "math_verify", None)  # makes `import math_verify` fail
    checks = build_static_checks(gate_for("S010"))
    assert [type(c) for c in checks] == [SkippedCheck]
    assert skip_notes(checks) == [
        "S010 unparseable-math-answer skipped: this needs the optional 'math' extra "
        "(to check that math gold answers parse): pip install 'datalint[math]'"
    ]


def test_factory_builds_only_what_active_rules_read() -> None:
    assert build_static_checks(gate_for("S001")) == []
    only_dups = build_static_checks(gate_for("D001"))
    assert [type(c) for c in only_dups] == [ExactDuplicates]
    everything = build_static_checks(
        gate_for("S008", "S009", "D001", "D002", "D003", "D004"),
        probe_items=[item(1, "a probe prompt", path="probe.jsonl")],
        options=StaticOptions(),
    )
    assert [type(c) for c in everything] == [
        PromptLength,
        AnswerLeak,
        ExactDuplicates,
        NearDuplicates,
        ProbeContamination,
    ]
    # one PromptLength serves both S008 and S009; no probe file, no probe check
    without_probe = build_static_checks(gate_for("D003", "S008", "S009"))
    assert [type(c) for c in without_probe] == [PromptLength]


def test_no_check_keeps_a_reference_to_the_items_it_is_fed() -> None:
    gate = gate_for("S008", "S009", "D001", "D002", "D003", "D004")
    probes = [item(1, "a probe prompt about marbles and bags", path="probe.jsonl")]
    checks = build_static_checks(gate, probe_items=probes)
    assert len(checks) == 5
    fed = [item(n, f"prompt number {n} about marbles and bags", f"{n}") for n in range(1, 50)]
    before = [sys.getrefcount(it) for it in fed]
    for it in fed:
        for check in checks:
            check.feed(it, gate)
    del it  # the loop variable's own reference
    assert [sys.getrefcount(x) for x in fed] == before  # compact signatures only
    for check in checks:
        check.finish(gate)
