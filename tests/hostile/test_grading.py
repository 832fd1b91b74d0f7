"""Hostile data against the grading stage, through the real CLI with time and memory limits.

A data file names code to run (``shutil:rmtree``, ``builtins:print``, ``importlib:import_module``,
``os:_exit``), hides a ``grading.py`` in the working directory, brings a catastrophic regex,
completions of hundreds of thousands of spaces, and math answers that make math-verify spin.
Each must end as a finding at file:line with the documented exit code, quickly, with nothing
outside the test's temp dir changed.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hostile.harness import (
    DEFAULT_MEMORY_MB,
    REPO_ROOT,
    Outcome,
    Sentinel,
    _limits,
    assert_clean_exit,
    run_datalint,
)

HAS_MATH_VERIFY = importlib.util.find_spec("math_verify") is not None
needs_math = pytest.mark.skipif(not HAS_MATH_VERIFY, reason="needs the 'math' extra")


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@functools.cache
def trust_flags() -> tuple[str, ...]:
    """``--trust-rollouts`` where this datalint has it (inline rollouts count only with it)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "datalint", "check", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    ).stdout
    return ("--trust-rollouts",) if "--trust-rollouts" in help_text else ()


def check_json(data: Path, *extra: str, timeout: float = 90, **kw) -> tuple[Outcome, dict]:
    outcome = run_datalint(
        "check",
        data.name,
        "--format",
        "json",
        "--no-cache",
        *extra,
        cwd=data.parent,
        timeout=timeout,
        **kw,
    )
    report = json.loads(outcome.stdout) if outcome.stdout.strip().startswith("{") else {}
    return outcome, report


def codes_at(report: dict) -> list[tuple[str, int]]:
    return sorted((f["code"], f["line"]) for f in report.get("findings", []))


@pytest.mark.parametrize(
    "verifier",
    ["shutil:rmtree", "builtins:print", "importlib:import_module", "os:_exit", "pty:spawn"],
)
def test_import_strings_in_the_data_are_findings_and_never_run(
    verifier: str, tmp_path: Path, sentinel: Sentinel
) -> None:
    target = str(sentinel.path)
    data = write(
        tmp_path / "data.jsonl",
        [
            {"prompt": "What is 1+1?", "answer": "2", "verifier": "numeric"},
            {
                "prompt": "Name a directory.",
                "answer": target,
                "verifier": verifier,
                "rollouts": [{"completion": target}, {"completion": "::error ::forged"}],
            },
        ],
    )
    outcome, report = check_json(data, "--static-only")
    assert_clean_exit(outcome, 1)
    assert ("S012", 2) in codes_at(report)
    assert report["summary"]["passed"] is False
    assert sentinel.unchanged()
    assert "::error ::forged" not in outcome.stdout.replace("\\n", "\n").splitlines()


def test_import_string_with_trusted_inline_rollouts_is_not_graded(
    tmp_path: Path, sentinel: Sentinel
) -> None:
    """The full pipeline (not --static-only): the item gets no rollouts graded, S012 fails it."""
    target = str(sentinel.path)
    data = write(
        tmp_path / "data.jsonl",
        [
            {
                "prompt": "Name a directory.",
                "answer": target,
                "verifier": "shutil:rmtree",
                "rollouts": [{"completion": target, "reward": 1.0}] * 4,
            }
        ],
    )
    outcome, report = check_json(data, *trust_flags(), timeout=180)
    assert_clean_exit(outcome, 1)
    assert ("S012", 1) in codes_at(report)
    assert not any(f["code"] == "S011" for f in report["findings"])
    assert sentinel.unchanged()


def test_a_grading_module_in_the_working_directory_is_never_imported(
    tmp_path: Path, sentinel: Sentinel
) -> None:
    marker = sentinel.path / "imported.txt"
    (tmp_path / "grading.py").write_text(
        f"open({str(marker)!r}, 'w').write('pwned')\n"
        "def reward(completion, item):\n    return 1.0\n",
        encoding="utf-8",
    )
    data = write(
        tmp_path / "data.jsonl",
        [
            {"prompt": "What is 1+1?", "answer": "3", "verifier": "grading:reward"},
            {"prompt": "What is 2+2?", "answer": "5", "verifier": "grading"},
        ],
    )
    outcome, report = check_json(data, "--static-only")
    assert_clean_exit(outcome, 1)
    assert codes_at(report) == [("S012", 1), ("S014", 2)]
    assert not marker.exists()
    assert sentinel.unchanged()


def test_unknown_verifier_and_mcq_without_choices_are_found_before_sampling(
    tmp_path: Path,
) -> None:
    data = write(
        tmp_path / "data.jsonl",
        [
            {"prompt": "What is 2+2?", "answer": "4", "verifier": "numerc"},
            {"prompt": "Pick one.", "answer": "B", "verifier": "mcq"},
            {"prompt": "Prove it.", "answer": "proof", "verifier": "math"},
            {"prompt": "What is 3+3?", "answer": "", "verifier": "exact"},
        ],
    )
    outcome, report = check_json(data, "--static-only")
    assert_clean_exit(outcome, 1)
    assert codes_at(report) == [("S013", 3), ("S013", 4), ("S014", 1), ("S014", 2)]


def test_catastrophic_regex_answers_at_once(tmp_path: Path) -> None:
    data = write(
        tmp_path / "data.jsonl",
        [
            {
                "prompt": "Say a's.",
                "answer": "(a+)+$",
                "verifier": "regex",
                "rollouts": [{"completion": "a" * 40 + "b"}] * 8,
            },
            {
                "prompt": "Say it twice.",
                "answer": "(a)\\1",
                "verifier": "regex",
                "rollouts": [{"completion": "aa"}] * 2,
            },
        ],
    )
    outcome, report = check_json(data, *trust_flags(), "--select", "S011", timeout=180)
    assert_clean_exit(outcome, (0, 1))
    if not trust_flags() and not report.get("cohorts"):
        pytest.skip("inline rollouts are not graded without --trust-rollouts")
    assert [(f["code"], f["line"]) for f in report["findings"]] == [("S011", 2)]
    assert "RE2" in report["findings"][0]["message"]
    assert "Error parsing" not in outcome.stderr  # RE2's own log line (the raw pattern)


@pytest.mark.parametrize("verifier", ["numeric", "mcq"])
@pytest.mark.parametrize("spaces", [60_000, 400_000])
def test_marker_and_a_sea_of_spaces_grades_in_linear_time(
    verifier: str, spaces: int, tmp_path: Path
) -> None:
    gold = "B" if verifier == "mcq" else "7"
    record = {"prompt": "Pick.", "answer": gold, "verifier": verifier, "choices": ["1", "7"]}
    hostile = {"completion": "answer:" + " " * spaces}  # no answer after the marker
    right = {"completion": "answer:" + " " * spaces + gold}
    record["rollouts"] = [hostile, right, hostile, right]
    data = write(tmp_path / "data.jsonl", [record])
    outcome, report = check_json(data, *trust_flags(), "--select", "S011", timeout=120)
    assert_clean_exit(outcome, 0)
    assert report["findings"] == []
    [graded] = report["cohorts"][0]["items"]
    assert (graded["n_rollouts"], graded["pass_rate"]) == (4, 0.5)
    assert outcome.seconds < 60  # the old quadratic regexes needed 46 s for 60k spaces alone


@needs_math
def test_hostile_math_answers_cost_seconds_not_minutes(tmp_path: Path) -> None:
    tower = "9^{9^{9^9}}"
    nested = "(" * 400 + "1" + ")" * 400
    data = write(
        tmp_path / "data.jsonl",
        [
            {
                "prompt": "Compute.",
                "answer": "5",
                "verifier": "math",
                "rollouts": [{"completion": f"The answer is ${tower}$"}] * 8,
            },
            {
                "prompt": "Compute.",
                "answer": tower,
                "verifier": "math",
                "rollouts": [{"completion": "The answer is $5$"}] * 8,
            },
            {
                "prompt": "Compute.",
                "answer": nested + "\n::error ::forged",
                "verifier": "math",
                "rollouts": [{"completion": "1"}] * 8,
            },
        ],
    )
    outcome, _ = check_json(data, *trust_flags(), "--select", "S010,S011", timeout=180)
    assert_clean_exit(outcome, (0, 1))
    assert "::error ::forged" not in outcome.stderr
    assert "Timeout" not in outcome.stderr  # math-verify's own log lines stay in the worker
    # 3 items, each at most the per-item budget (2 s) plus S010's 0.5 s, plus process start
    assert outcome.seconds < 60


@needs_math
def test_ten_hostile_gold_answers_under_static_only_finish_in_seconds(tmp_path: Path) -> None:
    records = [
        {"prompt": f"Q{i}", "answer": "(" * (300 + i) + "1" + ")" * (300 + i), "verifier": "math"}
        for i in range(10)
    ]
    data = write(tmp_path / "data.jsonl", records)
    outcome, report = check_json(data, "--static-only", "--select", "S010", timeout=120)
    assert_clean_exit(outcome, 1)
    assert codes_at(report) == [("S010", line) for line in range(1, 11)]
    assert "Timeout" not in outcome.stderr
    assert outcome.seconds < 40  # 10 x 0.5 s budget plus start-up; was 53 s


@needs_math
def test_ctrl_c_during_math_grading_exits_130_at_once(tmp_path: Path) -> None:
    records = [
        {"prompt": f"Q{i}", "answer": "(" * (300 + i) + "1" + ")" * (300 + i), "verifier": "math"}
        for i in range(200)
    ]
    data = write(tmp_path / "data.jsonl", records)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "DATALINT_CACHE_DIR": str(tmp_path / ".cache"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "datalint", "check", data.name, "--static-only"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_limits(DEFAULT_MEMORY_MB),  # its own session (Ctrl-C hits the group) and cap
    )
    try:
        time.sleep(8)  # start-up, the worker's start and a few gold answers
        assert proc.poll() is None, proc.communicate()
        sent = time.perf_counter()
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        _, err = proc.communicate(timeout=20)
        waited = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    assert waited < 5, waited  # within a second on an idle machine
