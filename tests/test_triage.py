"""Dead-end triage (RW201-RW205): answers read per verifier, the metrics, the rules' boundaries,
and the CLI end to end on inline rollouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.cli import cli
from datalint.engine import Gate
from datalint.grade.answers import UNSUPPORTED, Answer, answer_key
from datalint.grade.settings import Grading
from datalint.load.records import Cohort, Item, Rollout, Source
from datalint.reward_stage import evaluate_cohorts
from datalint.rulebook import rules_by_code
from datalint.signals.triage import LEAK, MAJORITY, PARSEABLE, ProbeAnswers, triage_item

REPO = Path(__file__).resolve().parent.parent
TRIAGE = ("RW201", "RW202", "RW203", "RW204", "RW205")
EXACT = Grading()


def item(answer: object, prompt: str = "1+1=", line: int = 3, **kw) -> Item:
    return Item(source=Source("d.jsonl", line), answer=answer, prompt=prompt, **kw)  # type: ignore[arg-type]


def graded(completions: list[str], rewards: list[float]) -> list[Rollout]:
    return [Rollout(c, reward=r) for c, r in zip(completions, rewards, strict=True)]


def gate(*codes: str) -> Gate:
    rules = rules_by_code()
    return Gate(rules[c] for c in codes or TRIAGE)


def fired(g: Gate) -> list[str]:
    return sorted(f.code for f in g.findings)


class _Recorder(Gate):
    """A gate that records every metric value it is shown (rules are only there to be wanted)."""

    def __init__(self) -> None:
        super().__init__(rules_by_code()[c] for c in TRIAGE)
        self.seen: dict[str, float] = {}

    def observe(self, feature, value, source, *, cohort=None, **context) -> None:  # type: ignore[override]
        self.seen[feature] = value
        super().observe(feature, value, source, cohort=cohort, **context)


# ---- answers as each verifier reads them -------------------------------------------------------


def key(it: Item, completion: str, grading: Grading = EXACT) -> Answer | None:
    found = answer_key(it, completion, grading)
    assert found is not UNSUPPORTED
    return found  # type: ignore[return-value]


def test_numeric_answers_are_numbers() -> None:
    it = item("35", verifier="numeric")
    assert key(it, "35") == key(it, "35.0") == key(it, "The answer is 35.")
    assert key(it, "35").shown == "35"  # type: ignore[union-attr]
    assert key(it, "36") != key(it, "35")
    assert key(it, "thirty-five") is None
    boxed = Grading(extraction="boxed")
    assert key(it, "so \\boxed{7}", boxed).shown == "7"  # type: ignore[union-attr]
    assert key(it, "7", boxed) is None  # no box: no answer under --extraction boxed


def test_exact_answers_need_the_gold_form() -> None:
    numeric_gold = item("35")
    assert key(numeric_gold, " 35 ").shown == "35"  # type: ignore[union-attr]
    assert key(numeric_gold, "The answer is 35.") is None  # not a number: a format failure
    assert key(numeric_gold, "") is None
    text_gold = item("Paris")
    assert key(text_gold, "PARIS.") == key(text_gold, "paris")
    assert key(text_gold, "Rome") is not None


def test_mcq_and_math_and_plugins() -> None:
    mcq = item("B", verifier="mcq", choices=["four", "six", "seven"])
    assert key(mcq, "The answer is (C).").shown == "C"  # type: ignore[union-attr]
    assert key(mcq, "7") is None
    math = item("\\frac{1}{2}", verifier="math")
    assert key(math, "x = \\boxed{ \\frac{1}{3} }").shown == "\\frac{1}{3}"  # type: ignore[union-attr]
    assert key(math, "it is 0.25 or so").shown == "0.25"  # type: ignore[union-attr]
    assert key(math, "no idea") is None
    plugin = item("1", verifier="mine")
    assert answer_key(plugin, "1", Grading.build(verifiers={"mine": "json:loads"})) is UNSUPPORTED


def test_long_answers_are_cut_in_messages_but_compared_whole() -> None:
    it = item("Paris")
    a, b = key(it, "x" * 5000 + "a"), key(it, "x" * 5000 + "b")
    assert a is not None and b is not None and a != b
    assert a.shown == "x" * 40 + "..."


# ---- metrics and rule boundaries -------------------------------------------------------------


def test_five_of_eight_agreeing_on_a_wrong_answer_is_a_likely_wrong_gold() -> None:
    g = _Recorder()
    rollouts = graded(["104"] * 5 + ["14", "94", "x"], [0.0] * 8)
    triage_item(item("4", "54+50="), rollouts, g, grading=EXACT, cohort="c")
    assert g.seen[PARSEABLE] == 7 / 8  # "x" is not a number, the gold is
    assert g.seen[MAJORITY] == 5 / 8
    assert fired(g) == ["RW201"]
    assert g.findings[0].message == (
        "likely wrong gold: 5 of 8 rollouts answer '104' and none passes against the gold '4'; "
        "check the label"
    )
    assert (g.findings[0].line, g.findings[0].cohort) == (3, "c")


def test_half_agreeing_is_too_hard_not_a_wrong_gold() -> None:
    g = _Recorder()
    rollouts = graded(["104"] * 4 + ["14", "94", "95", "96"], [0.0] * 8)
    triage_item(item("4", "54+50="), rollouts, g, grading=EXACT, cohort="c")
    assert g.seen[MAJORITY] == 0.5  # the boundary: RW201 needs more than half
    assert fired(g) == ["RW203"]
    assert "8 rollouts give 5 different answers" in g.findings[0].message
    assert "'104', 4 times" in g.findings[0].message


def test_no_readable_answer_is_a_format_failure_only() -> None:
    g = _Recorder()
    rollouts = graded(["The answer is 35.", "thirty-five", ""], [0.0] * 3)
    triage_item(item("35", "79-44="), rollouts, g, grading=EXACT, cohort="c")
    assert g.seen == {PARSEABLE: 0.0}  # no answers: no majority to speak of
    assert fired(g) == ["RW202"]
    assert "none of 3 rollouts gives an answer the exact verifier reads" in g.findings[0].message
    assert "(the whole completion), e.g. 'The answer is 35.'" in g.findings[0].message
    g = gate("RW202")
    it = item("35", verifier="numeric")
    triage_item(it, graded(["so 35", "no"], [0.0, 0.0]), g, grading=EXACT, cohort="c")
    assert "the numeric verifier reads (strict extraction)" in g.findings[0].message


def test_one_readable_answer_is_enough_to_not_be_a_format_failure() -> None:
    g = _Recorder()
    triage_item(item("35"), graded(["junk", "36"], [0.0, 0.0]), g, grading=EXACT, cohort="c")
    assert g.seen[PARSEABLE] == 0.5
    assert fired(g) == ["RW203"]  # one answer of two rollouts: share 0.5, scattered


def test_not_a_dead_end_or_too_few_rollouts_says_nothing() -> None:
    for rollouts in (
        graded(["4", "5", "5"], [1.0, 0.0, 0.0]),  # one passes: not failed by every rollout
        graded(["5"], [0.0]),  # one rollout: no agreement to measure
        graded(["4"], [1.0]),
        [Rollout("5"), Rollout("5")],  # ungraded (the verifier failed on them)
    ):
        g = _Recorder()
        triage_item(item("4"), rollouts, g, grading=EXACT, cohort="c")
        assert g.seen == {} and g.findings == []


def test_partial_credit_under_half_counts_as_failed() -> None:
    g = gate()
    triage_item(item("4"), graded(["3", "3", "3"], [0.4, 0.4, 0.4]), g, grading=EXACT, cohort="c")
    assert fired(g) == ["RW201"]


def test_a_plugin_verifier_gets_no_dead_end_verdict() -> None:
    g = _Recorder()
    grading = Grading.build(verifiers={"mine": "json:loads"})
    rollouts = graded(["5", "5", "5"], [0.0] * 3)
    triage_item(item("4", verifier="mine"), rollouts, g, grading=grading, cohort="c")
    assert g.seen == {}


def test_solved_with_the_answer_in_the_prompt_is_leaked() -> None:
    g = _Recorder()
    it = item("1480", "Compute 37 * 40. (Answer: 1480)")
    triage_item(it, graded(["1480"] * 4, [1.0] * 4), g, grading=EXACT, cohort="c")
    assert g.seen == {LEAK: 1.0}
    assert fired(g) == ["RW204"]
    assert g.findings[0].message == (
        "leaked: all 4 rollouts pass, and the answer '1480' is stated in the prompt"
    )


def test_solved_without_a_leak_is_mastered() -> None:
    g = _Recorder()
    triage_item(item("2"), graded(["2", "2"], [1.0, 1.0]), g, grading=EXACT, cohort="c")
    assert g.seen == {LEAK: 0.0}
    assert fired(g) == ["RW205"]
    assert (
        "mastered: all 2 rollouts pass and the answer is in neither the prompt nor the probe"
        in (g.findings[0].message)
    )


def test_a_probe_item_with_the_same_answer_is_a_leak_and_one_with_another_is_not() -> None:
    words = "Tom has 3 red marbles and 5 blue marbles in a bag. How many marbles does he have?"
    probe = ProbeAnswers(
        [
            Item(Source("probe.jsonl", 1), answer="9", prompt=words),  # another answer
            Item(Source("probe.jsonl", 2), answer="8", prompt=words + " Count them."),
        ]
    )
    same = item("8", words + " Show your work.")
    # 21 words, 14 word 8-grams; the first 11 are in both probes, indexed under probe 1 (the
    # first holding them, as D003 indexes), whose answer differs, so no same-answer overlap...
    assert probe.same_answer_overlap(same) is None
    exact = item("8", words + " Count them.")  # ...but an exact copy of probe 2 is found
    assert probe.same_answer_overlap(exact) == (1.0, "probe.jsonl:2")
    g = _Recorder()
    triage_item(exact, graded(["8", "8"], [1.0, 1.0]), g, grading=EXACT, cohort="c", probe=probe)
    assert fired(g) == ["RW204"]
    assert "is in probe item probe.jsonl:2 (same answer)" in g.findings[0].message


def test_probe_overlap_share_is_measured_against_the_same_answer_probe() -> None:
    words = "Tom has 3 red marbles and 5 blue marbles in a bag. How many marbles does he have?"
    probe = ProbeAnswers([Item(Source("probe.jsonl", 4), answer="8", prompt=words)])
    it = item("8", words + " Show your work.")  # 21 words: 14 word 8-grams, 11 in the probe
    assert probe.same_answer_overlap(it) == (11 / 14, "probe.jsonl:4")
    other = item("6", words + " Show your work.")
    assert probe.same_answer_overlap(other) is None


def test_reward_stage_triages_every_dead_end_at_its_line() -> None:
    g = gate()
    cohort = Cohort(
        "c1",
        [
            Item(Source("d.jsonl", 1), "4", prompt="2+2=", rollouts=[Rollout("4"), Rollout("4")]),
            Item(Source("d.jsonl", 2), "4", prompt="54+50=", rollouts=[Rollout("104")] * 2),
            Item(
                Source("d.jsonl", 3), "85", prompt="38+47=", rollouts=[Rollout("85"), Rollout("7")]
            ),
        ],
    )
    evaluate_cohorts([cohort], None, g)
    # the replayed rollouts carried no rewards: grading gave them theirs before triage read them
    assert [(f.line, f.code) for f in g.findings] == [(1, "RW205"), (2, "RW201")]
    assert {f.cohort for f in g.findings} == {"c1"}


# ---- the CLI ---------------------------------------------------------------------------------


def _row(prompt: str, answer: str, *completions: str) -> dict:
    return {
        "prompt": prompt,
        "answer": answer,
        "rollouts": [{"completion": c} for c in completions],
    }


ROWS = [
    _row("54+50=", "4", "104", "104", "104", "14"),
    _row("79-44=", "35", "The answer is 35.", "The answer is 35."),
    _row("9173*4482=", "41113386", "4111336", "40113386", "41113396"),
    _row("1+5=", "6", "6", "6"),
    _row("2+2=", "4", "4", "4"),
    _row("38+47=", "85", "85", "75"),
]
EXPECTED = [(1, "RW201"), (2, "RW202"), (3, "RW203"), (4, "RW204"), (5, "RW205")]


def _write(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), "utf-8")
    (tmp_path / "probe.jsonl").write_text('{"prompt": "1+5=", "answer": "6"}\n', "utf-8")


ARGS = ["check", "d.jsonl", "--probe", "probe.jsonl", "--trust-rollouts", "--no-cache"]
ARGS += ["--select", ",".join(TRIAGE), "--format", "json"]


def test_cli_triages_each_outcome_at_its_line(tmp_path: Path, monkeypatch) -> None:
    _write(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ARGS, catch_exceptions=False)
    assert result.exit_code == 0, result.output  # all five are warnings
    report = json.loads(result.stdout)
    assert [(f["line"], f["code"]) for f in report["findings"]] == EXPECTED
    by_code = {f["code"]: f["message"] for f in report["findings"]}
    assert "3 of 4 rollouts answer '104'" in by_code["RW201"]
    assert "is in probe item probe.jsonl:1 (same answer)" in by_code["RW204"]


def test_default_rules_report_wrong_gold_format_and_leak_only(tmp_path: Path) -> None:
    _write(tmp_path)
    cmd = [sys.executable, "-m", "datalint", *ARGS[:6], "--format", "json"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # the default rules hold errors here (D003, RW003)
    codes = [(f["line"], f["code"]) for f in json.loads(done.stdout)["findings"]]
    assert (4, "D003") in codes
    triaged = [c for c in codes if c[1] in TRIAGE]
    assert triaged == [(1, "RW201"), (2, "RW202"), (4, "RW204")]  # RW203/RW205 are opt-in


@pytest.mark.parametrize("fmt", ["concise", "sarif"])
def test_answers_from_the_data_reach_other_formats(tmp_path: Path, monkeypatch, fmt) -> None:
    _write(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [*ARGS[:-1], fmt], catch_exceptions=False)
    assert result.exit_code == 0
    assert "RW201" in result.stdout and "104" in result.stdout
