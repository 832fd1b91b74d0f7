"""Hostile prompts against the policy model: multi-megabyte prompts must cost bounded memory (they
are cut to a bound derived from the model's context before tokenizing) and be reported at
file:line as not fitting (S022), never scored as wrong answers.

Before: one 7.9 MiB prompt cost 3.7 GB of peak RSS and 521 s on the loaded 2-core machine
(tokenized in full for a 32-token context) and was scored as all-wrong (the issue measured 13.7 GB
for 20 of them). After: 0.8 GB and 110-125 s for one or three, most of it importing torch on that
machine, and S022 at each line.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.hostile.harness import assert_clean_exit, run_datalint

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="needs the 'hf' extra (a policy model)"
)
HUGE_CHARS = int(7.9 * 1024 * 1024)  # under S007's 8 MiB line limit, so the line is read


def huge_arithmetic(digit: int) -> str:
    """Distinct for each digit (duplicates would be sampled once); all in the vocabulary."""
    return (f"{digit}+" * (HUGE_CHARS // 2))[:HUGE_CHARS] + "="


def test_huge_prompts_cost_bounded_memory_and_are_reported(tmp_path: Path, sentinel) -> None:
    data = tmp_path / "data.jsonl"
    rows = [{"prompt": huge_arithmetic(digit), "answer": "1"} for digit in (1, 2)]
    rows.append({"messages": [{"role": "user", "content": huge_arithmetic(3)}], "answer": "1"})
    rows += [{"prompt": p, "answer": a} for p, a in [("2+3=", "5"), ("4+4=", "8"), ("7+1=", "8")]]
    rows.append({"prompt": "9-2=", "answer": "7"})
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["check", "data.jsonl", "--format", "json", "--rollouts-per-item", "2"]
    outcome = run_datalint(*args, "--max-new-tokens", "4", cwd=tmp_path, timeout=600)
    assert_clean_exit(outcome, (0, 1))
    report = json.loads(outcome.stdout)
    s022 = [f for f in report["findings"] if f["code"] == "S022"]
    assert [f["line"] for f in s022] == [1, 2, 3]
    assert all("not tokenized" in f["message"] for f in s022)
    lines = [entry["line"] for c in report["cohorts"] for entry in c["lines"]]
    assert lines == [4, 5, 6, 7]  # the huge prompts are in no cohort's features
    assert outcome.peak_rss_mb < 3000, outcome.peak_rss_mb  # before: 3.5 GB per huge prompt
    assert sentinel.unchanged()
