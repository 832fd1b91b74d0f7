"""`datalint check` end to end: click's runner on replayed rollouts, and the real CLI as a
subprocess sampling the shipped tiny policy on the shipped example."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalint.cli import cli
from datalint.features_names import FEATURE_NAMES

REPO = Path(__file__).resolve().parent.parent


def record(prompt: str, answer: str, cohort: str, rewards: list[int]) -> dict:
    rollouts = [{"completion": answer if r else "wrong", "reward": r} for r in rewards]
    return {"prompt": prompt, "answer": answer, "cohort": cohort, "rollouts": rollouts}


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def worked_example(tmp_path: Path) -> Path:
    # The seed's worked example as one cohort: 5/8 (learn), 8/8 (known), 0/8 (no foothold).
    return write(
        tmp_path / "worked.jsonl",
        [
            record("If 3x + 7 = 22, find x.", "5", "seed", [1, 0, 1, 1, 0, 1, 0, 1]),
            record("What is 2 + 2?", "4", "seed", [1] * 8),
            record("Prove the Riemann Hypothesis.", "QED", "seed", [0] * 8),
        ],
    )


def invoke(*args: str):  # type: ignore[no-untyped-def]
    """check on data whose inline rollouts stand in for a policy: the test trusts them."""
    return CliRunner().invoke(cli, ["check", "--trust-rollouts", *args], catch_exceptions=False)


def test_worked_example_features_and_json_contract(worked_example: Path) -> None:
    result = invoke(str(worked_example), "--format", "json", "--no-cache")
    report = json.loads(result.stdout)
    assert set(report) >= {"findings", "cohorts", "summary"}
    (cohort,) = report["cohorts"]
    assert list(cohort["features"]) == list(FEATURE_NAMES)
    f = cohort["features"]
    assert f["n_groups"] == 3
    assert f["frac_nondegenerate"] == pytest.approx(1 / 3)
    assert f["frac_all_correct"] == pytest.approx(1 / 3)
    assert f["frac_all_wrong"] == pytest.approx(1 / 3)
    assert f["pass_rate"] == pytest.approx(13 / 24)
    # only the 5/8 group has non-zero advantages: +-(1-5/8)/s, -(5/8)/s with s = sqrt(15/56)
    s = (15 / 56) ** 0.5 + 1e-4
    adv = [0.375 / s] * 5 + [-0.625 / s] * 3 + [0.0] * 16
    mean = sum(adv) / 24
    assert f["adv_std"] == pytest.approx((sum((a - mean) ** 2 for a in adv) / 24) ** 0.5)
    assert f["mean_logprob"] is None  # replayed rollouts carry no logprobs: missing, not zero
    lines = [(i["line"], i["pass_rate"], i["flags"]) for i in cohort["items"]]
    assert lines == [(1, 0.625, ["disagree"]), (2, 1.0, ["all_correct"]), (3, 0.0, ["all_wrong"])]
    assert cohort["predicted_lift"] is not None
    summary = report["summary"]
    assert summary["lift_score"] == pytest.approx(cohort["predicted_lift"])
    assert summary["predictor"] and "fallback" not in summary["predictor"]


def test_fail_under_turns_a_clean_run_into_exit_1(worked_example: Path) -> None:
    base = [str(worked_example), "--format", "json", "--no-cache", "--select", "S"]
    ok = invoke(*base, "--fail-under", "-1000")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["summary"]["passed"] is True
    low = invoke(*base, "--fail-under", "1000")
    assert low.exit_code == 1
    summary = json.loads(low.stdout)["summary"]
    assert summary["passed"] is False and summary["n_errors"] == 0


def test_fail_under_from_config(worked_example: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datalint.toml").write_text('select = ["S"]\nfail-under = 1000\n')
    assert invoke(worked_example.name, "--no-cache", "-q").exit_code == 1
    assert invoke(worked_example.name, "--no-cache", "-q", "--exit-zero").exit_code == 0


def test_error_findings_exit_1_and_exit_zero_overrides(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "1+1=", "answer": "2"}\n{"prompt": "1+1=", "answer": "2"}\n')
    assert invoke(str(data), "--static-only").exit_code == 1
    assert invoke(str(data), "--static-only", "--exit-zero").exit_code == 0


def test_output_file_gets_the_report_and_stdout_stays_empty(
    worked_example: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.sarif"
    result = invoke(str(worked_example), "--no-cache", "--format", "sarif", "-o", str(out))
    assert result.stdout == ""
    assert json.loads(out.read_text())["version"] == "2.1.0"


def test_a_bad_predictor_fails_fast_with_one_line(worked_example: Path, tmp_path: Path) -> None:
    result = invoke(str(worked_example), "--predictor", str(tmp_path / "nope.onnx"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "nope.onnx" in result.stderr
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    result = invoke(str(worked_example), "--predictor", str(junk))
    assert (
        result.exit_code == 2 and "junk.onnx" in result.stderr and "Traceback" not in result.stderr
    )


def test_statistics_counts_per_rule(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("{bad\n{bad\n" + '{"prompt": "1+1=", "answer": "2"}\n')
    result = invoke(str(data), "--static-only", "--format", "json", "--statistics")
    stats = json.loads(result.stdout)["statistics"]
    assert [(s["code"], s["count"]) for s in stats] == [("S001", 2)]


def test_show_features_prints_all_23_in_rich(worked_example: Path) -> None:
    result = invoke(str(worked_example), "--no-cache", "--show-features")
    table = result.stdout[result.stdout.index("Cohort features") :]
    assert all(name in table for name in FEATURE_NAMES)
    plain = invoke(str(worked_example), "--no-cache")
    assert "Cohort features" not in plain.stdout and "adv_std" in plain.stdout


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "datalint", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, str]:
    """The README's main job on the shipped policy and example, cold then warm cache."""
    cache = tmp_path_factory.mktemp("cache")
    args = [
        "check",
        str(REPO / "examples" / "vendor.jsonl"),
        "--format",
        "json",
        "--cache-dir",
        str(cache),
    ]
    cold = run_cli(*args, cwd=cache)
    assert cold.returncode in (0, 1), cold.stderr
    warm = run_cli(*args, cwd=cache)
    return json.loads(cold.stdout), json.loads(warm.stdout), cold.stderr


def test_tiny_policy_run_gives_all_23_features_with_logprobs(example_runs) -> None:
    cold, _, stderr = example_runs
    assert "Traceback" not in stderr
    assert len(cold["cohorts"]) == 20
    for cohort in cold["cohorts"]:
        assert list(cohort["features"]) == list(FEATURE_NAMES)
        assert cohort["features"]["mean_logprob"] is not None
        assert cohort["features"]["entropy_mean"] >= 0
        assert cohort["features"]["n_groups"] == 4
    verdicts = {c["id"]: c["features"] for c in cold["cohorts"]}
    # the example's kinds are ordered by what the policy can do with them
    known = [f["pass_rate"] for k, f in verdicts.items() if "known" in k]
    foothold = [f["pass_rate"] for k, f in verdicts.items() if "no_foothold" in k]
    assert min(known) > max(foothold)


def test_warm_rerun_gives_identical_report(example_runs) -> None:
    cold, warm, _ = example_runs
    assert warm == cold


def test_a_rollouts_file_scanned_as_data_fails_the_check(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "data.jsonl", [record("1+1=", "2", "c", [1, 0, 1, 0])])
    header = {"datalint": "rollouts", "version": 1, "backend": "transformers", "params": {}}
    rollouts = tmp_path / "run.rollouts.jsonl"
    rollouts.write_text(json.dumps(header) + '\n{"id": "x", "rollouts": []}\n')
    result = invoke(str(tmp_path), "--no-cache", "--format", "json")
    report = json.loads(result.stdout)
    s019 = [f for f in report["findings"] if f["code"] == "S019"]
    assert [(f["path"], f["line"], f["level"]) for f in s019] == [(str(rollouts), 1, "error")]
    assert result.exit_code == 1
    assert report["summary"]["n_items"] == 1


def test_the_rollouts_file_passed_with_rollouts_is_left_out_of_the_scan(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "data.jsonl", [record("1+1=", "2", "c", [1, 0, 1, 0])])
    header = {"datalint": "rollouts", "version": 1, "backend": "transformers", "params": {}}
    rollouts = tmp_path / "run.rollouts.jsonl"
    rollouts.write_text(json.dumps(header) + "\n")
    result = invoke(str(tmp_path), "--static-only", "--format", "json", "--rollouts", str(rollouts))
    report = json.loads(result.stdout)
    assert [f["code"] for f in report["findings"]] == []
    assert report["summary"]["n_files"] == 1


def test_fail_under_without_a_lift_score_says_it_was_not_applied(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "1+1=", "answer": "2"}\n')
    result = invoke(str(data), "--static-only", "--fail-under", "5")
    assert result.exit_code == 0
    assert "--fail-under not applied" in result.stderr
