"""Hostile rollouts against dead-end triage (RW201-RW205), through the real CLI with limits.

Triage reads every rollout's answer a second time (after grading), so a data file that brings
megabytes of completions built to make an extraction backtrack (answer markers without answers,
unclosed boxes, runs of spaces, digit groups) must still cost linear time and bounded memory,
and the answers it quotes in messages must be short and inert.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostile.harness import assert_clean_exit, run_datalint

TRIAGE = "RW201,RW202,RW203,RW204,RW205"
SIZE = 400_000  # characters per completion; 8 of them per line stay under the 8 MiB line limit


def _rows() -> list[dict]:
    def item(prompt: str, answer: str, completions: list[str], **kw) -> dict:
        return {
            "prompt": prompt,
            "answer": answer,
            **kw,
            "rollouts": [{"completion": c} for c in completions],
        }

    marker = "answer is " * (SIZE // 10)
    digits = "1," * (SIZE // 2)
    spaces = "answer:" + " " * SIZE
    boxes = "\\boxed{" * (SIZE // 7)
    escape = "\x1b[2J\x1b]8;;http://x\x07" + "9" * SIZE
    return [
        item("1+1=", "2", [marker, digits, spaces, boxes] * 2, verifier="numeric"),
        item("1+2=", "3", [marker, spaces, boxes, digits] * 2),  # exact, numeric gold
        item("1+3=", "B", [marker, spaces, boxes, digits] * 2, verifier="mcq", choices=["x", "y"]),
        item("1+4=", "5", [escape] * 8),  # agreeing on one huge answer with terminal escapes
        item("1+5=", "6", ["6" + " " * SIZE] * 8),
    ]


def test_megabytes_of_adversarial_completions_triage_in_seconds(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows()), encoding="utf-8")
    outcome = run_datalint(
        "check", data.name, "--trust-rollouts", "--no-cache", "--select", TRIAGE,
        "--format", "json", cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert_clean_exit(outcome, 0)
    findings = json.loads(outcome.stdout)["findings"]
    assert [(f["line"], f["code"]) for f in findings] == [
        (1, "RW202"),  # numeric: no marker is followed by a number, "1,1,1,..." is none
        (2, "RW202"),  # exact with a numeric gold: none of these is a number
        (3, "RW202"),  # mcq: no letter chosen anywhere
        (4, "RW202"),  # the escape prefix makes it no number either
        (5, "RW205"),  # solved: the leak test reads the prompt, not the completions
    ]
    assert "e.g. 'answer is answer is answer is answer is ...'" in findings[0]["message"]
    assert all(len(f["message"]) < 400 for f in findings)  # answers are quoted cut to 40 chars
    assert "\x1b" not in outcome.stdout
    assert outcome.seconds < 60
