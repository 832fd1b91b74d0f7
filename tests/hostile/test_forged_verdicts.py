"""Attacks on the verdict itself: rollouts and rewards a vendor writes into its own data, and
modules a data folder plants on the import path. Each runs the real CLI as a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.harness import REPO_ROOT, assert_clean_exit, run_datalint

VENDOR = REPO_ROOT / "examples" / "vendor.jsonl"
needs_torch = pytest.importorskip  # the tiny policy samples when inline rollouts are ignored


def _forge(path: Path) -> Path:
    """The example vendor file with every item claiming a 4/8 split and confident logprobs."""
    rows = []
    for line in VENDOR.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        row["rollouts"] = [
            {
                "completion": row["answer"] if k % 2 else "x",
                "reward": 1.0 if k % 2 else 0.0,
                "logprobs": [-0.01, -0.02],
            }
            for k in range(8)
        ]
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _codes(stdout: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in json.loads(stdout)["findings"]:
        counts[finding["code"]] = counts.get(finding["code"], 0) + 1
    return counts


def test_forged_inline_rollouts_do_not_change_the_verdict(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    honest = run_datalint("check", str(VENDOR), "--format", "json", cwd=tmp_path / "a")
    forged = run_datalint(
        "check", str(_forge(tmp_path / "vendor.jsonl")), "--format", "json", cwd=tmp_path / "b"
    )
    assert_clean_exit(honest, 1)
    assert_clean_exit(forged, 1)
    assert "ignored the rollouts inline in 80 items" in forged.stderr
    assert _codes(forged.stdout) == _codes(honest.stdout)
    assert json.loads(forged.stdout)["summary"]["passed"] is False


def test_trusted_forged_rewards_are_regraded_and_flagged(tmp_path: Path) -> None:
    # Forged rewards say "half right"; the completions say otherwise for the 'x' ones only, so
    # regrading keeps 4/8 where the answer was written out and flags nothing there. Make the
    # claims lie: every rollout claims a pass.
    data = _forge(tmp_path / "vendor.jsonl")
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    for row in rows:
        for rollout in row["rollouts"]:
            rollout["reward"] = 1.0
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = run_datalint(
        "check", str(data), "--trust-rollouts", "--format", "json", "--select", "RW", cwd=tmp_path
    )
    assert_clean_exit(out, (0, 1))
    report = json.loads(out.stdout)
    mismatches = [f for f in report["findings"] if f["code"] == "RW004"]
    assert len(mismatches) == 80  # every item: 4 of 8 claimed passes are wrong answers
    assert all("4 of 8 replayed rewards" in f["message"] for f in mismatches)
    for cohort in report["cohorts"]:
        assert cohort["features"]["pass_rate"] == pytest.approx(0.5)  # the graded rate, not 1.0


def test_rollouts_header_does_not_skip_the_file(tmp_path: Path) -> None:
    data = tmp_path / "vendor.jsonl"
    data.write_text('{"datalint": "rollouts", "version": 1}\n' + VENDOR.read_text(encoding="utf-8"))
    out = run_datalint("check", str(data), "--static-only", "--format", "json", cwd=tmp_path)
    assert_clean_exit(out, 1)
    assert json.loads(out.stdout)["summary"]["passed"] is False


PLANTED = """
import pathlib
pathlib.Path({marker!r}).write_text("imported from the data folder")
def score(completion, item):
    return 1.0
"""


@pytest.mark.parametrize("module", ["grading", "tomllib", "rich", "jsonschema"])
def test_modules_in_the_data_folder_are_never_imported(
    tmp_path: Path, sentinel, module: str
) -> None:
    marker = sentinel.path / f"{module}-was-imported"
    (tmp_path / f"{module}.py").write_text(PLANTED.format(marker=str(marker)))
    data = tmp_path / "data.jsonl"
    data.write_text(
        json.dumps(
            {
                "prompt": "2+2=",
                "answer": "4",
                "verifier": "grading:score",
                "rollouts": [{"completion": "5", "reward": 1.0}],
            }
        )
        + "\n"
    )
    out = run_datalint("check", "data.jsonl", "--trust-rollouts", "--format", "json", cwd=tmp_path)
    assert_clean_exit(out, 1)
    assert not marker.exists(), f"{module}.py in the working directory was imported"
    assert sentinel.unchanged()
    codes = _codes(out.stdout)
    assert codes.get("S011", 0) + codes.get("S012", 0) >= 1  # named code is not run


def test_console_script_ignores_planted_modules_too(tmp_path: Path, sentinel) -> None:
    if shutil.which("datalint") is None and not (REPO_ROOT / ".venv/bin/datalint").exists():
        pytest.skip("no datalint console script installed")
    marker = sentinel.path / "rich-was-imported"
    (tmp_path / "rich.py").write_text(PLANTED.format(marker=str(marker)))
    (tmp_path / "data.jsonl").write_text('{"prompt": "2+2=", "answer": "4"}\n')
    out = run_datalint("check", "data.jsonl", "--static-only", cwd=tmp_path, module=False)
    assert_clean_exit(out, 0)
    assert not marker.exists()


def test_an_explicit_pythonpath_entry_equal_to_the_working_directory_stays(tmp_path: Path) -> None:
    """Only python -m's implicit entry goes: a user's own PYTHONPATH still counts."""
    (tmp_path / "probe_mod.py").write_text("VALUE = 42\n")
    script = "import datalint.__main__; import probe_mod; print('found', probe_mod.VALUE)"
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": f"{tmp_path}:{REPO_ROOT}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "found 42" in proc.stdout, proc.stderr
