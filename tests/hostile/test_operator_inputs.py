"""The operator's own inputs, attacked: a config planted beside vendor data, out-of-range and NaN
numbers, broken predictors. Each is a clean exit 2 naming the key or file (or, for the planted
config, simply never read), before any rollout is sampled.

Set ``DATALINT_HOSTILE_RECORD=FILE`` to append each case's exit code, seconds and peak RSS to
FILE as JSON lines (how the before/after figures in the closing note were taken).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.hostile.harness import Outcome, assert_clean_exit, run_datalint

BAD_AND_GOOD = '{"prompt": "1+1=", "answer": "2"}\n{not json at all\n'


def _record(name: str, outcome: Outcome) -> None:
    log = os.environ.get("DATALINT_HOSTILE_RECORD")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            row = {
                "case": name,
                "rc": outcome.returncode,
                "seconds": round(outcome.seconds, 2),
                "peak_rss_mb": round(outcome.peak_rss_mb),
                "stderr": outcome.stderr.strip()[-200:],
            }
            fh.write(json.dumps(row) + "\n")


def _one_line_error(outcome: Outcome, *needles: str) -> None:
    assert_clean_exit(outcome, 2)
    assert outcome.stderr.count("\n") == 1, outcome.stderr
    for needle in needles:
        assert needle in outcome.stderr, outcome.stderr


# -- a config planted beside the data is never read -----------------------------------------------
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("datalint.toml", 'ignore = ["S", "D"]\n'),
        ("datalint.toml", '[tool.datalint]\n[tool.datalint.rules.S001]\nlevel = "warning"\n'),
        ("pyproject.toml", '[tool.datalint]\nselect = ["T"]\n'),
    ],
)
def test_a_config_beside_vendor_data_is_not_read(tmp_path: Path, name: str, text: str) -> None:
    vendor = tmp_path / "vendor"  # not the working directory, nor one above it
    vendor.mkdir()
    (vendor / name).write_text(text)
    (vendor / "data.jsonl").write_text(BAD_AND_GOOD)
    work = tmp_path / "work"
    outcome = run_datalint(
        "check", str(vendor / "data.jsonl"), "--static-only", "--format", "json", cwd=work
    )
    _record(f"planted {name}", outcome)
    assert_clean_exit(outcome, 1)
    findings = json.loads(outcome.stdout)["findings"]
    assert [(f["code"], f["level"], f["line"]) for f in findings] == [("S001", "error", 2)]


def test_the_working_directory_config_still_applies(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "datalint.toml").write_text('[tool.datalint]\nignore = ["S001"]\n')
    (tmp_path / "data.jsonl").write_text(BAD_AND_GOOD)
    outcome = run_datalint("check", str(tmp_path / "data.jsonl"), "--static-only", cwd=work)
    assert_clean_exit(outcome, 0)


# -- numbers out of range, NaN ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "key"),
    [
        ("cohort-size = 0\n", "cohort-size: must be at least 1"),
        ("rollouts-per-item = 0\n", "rollouts-per-item: must be at least 1"),
        ("temperature = -1\n", "temperature: must be at least 0"),
        ("max-new-tokens = 0\n", "max-new-tokens: must be at least 1"),
        ("seed = -5\n", "seed: must be at least 0"),
        ("fail-under = nan\n", "fail-under: must be a finite number"),
        ("[rules.S007]\nmust_be_at_most = -1\n", "rules.S007.must_be_at_most: must be at least 1"),
        ("[rules.RW003]\nmust_be_at_least = nan\n", "rules.RW003.must_be_at_least: must be a"),
    ],
)
def test_out_of_range_config_is_a_config_error(tmp_path: Path, config: str, key: str) -> None:
    (tmp_path / "datalint.toml").write_text(config)
    (tmp_path / "data.jsonl").write_text(BAD_AND_GOOD)
    outcome = run_datalint("check", "data.jsonl", cwd=tmp_path)
    _record(f"config {config.strip()!r}", outcome)
    _one_line_error(outcome, "datalint.toml", key)


@pytest.mark.parametrize(
    ("flag", "value"), [("--fail-under", "nan"), ("--temperature", "nan"), ("--seed", "-1")]
)
def test_nan_and_negative_flags_are_usage_errors(tmp_path: Path, flag: str, value: str) -> None:
    (tmp_path / "data.jsonl").write_text(BAD_AND_GOOD)
    outcome = run_datalint("check", "data.jsonl", flag, value, cwd=tmp_path)
    _record(f"flag {flag} {value}", outcome)
    assert_clean_exit(outcome, 2)
    assert flag in outcome.stderr


# -- predictors that are not what they claim -------------------------------------------------------
onnx_models = pytest.importorskip("tests.onnx_models", reason="needs the onnx package")


def _replayable(tmp_path: Path) -> list[str]:
    prompts = [("1+1=", "2"), ("2+2=", "4"), ("3+3=", "6"), ("4+4=", "8")]
    (tmp_path / "data.jsonl").write_text(
        "".join(json.dumps({"prompt": p, "answer": a}) + "\n" for p, a in prompts)
    )
    header = {"datalint": "rollouts", "version": 1, "backend": "transformers", "params": {}}
    lines = [json.dumps(header)]
    for p, a in prompts:
        rollouts = [{"completion": c} for c in (a, "0", a, "1")]
        sha = hashlib.sha256(p.encode()).hexdigest()
        lines.append(json.dumps({"prompt_sha256": sha, "rollouts": rollouts}))
    (tmp_path / "r.rollouts.jsonl").write_text("\n".join(lines) + "\n")
    return ["check", "data.jsonl", "--rollouts", "r.rollouts.jsonl", "--no-cache"]


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda p: onnx_models.constant(p, 0.1, out_shape="wide"), "model outputs shape [2, 23]"),
        (onnx_models.double_input, "model input is tensor(double), expected tensor(float)"),
        (onnx_models.two_inputs, "model takes 2 inputs, expected 1"),
        (lambda p: onnx_models.column(p, 0, ["adv_std", "bogus"]), "'bogus', not a datalint"),
    ],
)
def test_a_malformed_predictor_fails_at_load(tmp_path: Path, build, needle: str) -> None:
    args = _replayable(tmp_path)
    build(tmp_path / "bad.onnx")
    outcome = run_datalint(*args, "--predictor", "bad.onnx", cwd=tmp_path)
    _record(f"predictor {needle[:30]}", outcome)
    _one_line_error(outcome, "bad.onnx", needle)


def test_a_nan_predictor_does_not_silently_disable_fail_under(tmp_path: Path) -> None:
    args = _replayable(tmp_path)
    onnx_models.constant(tmp_path / "nan.onnx", float("nan"))
    outcome = run_datalint(*args, "--predictor", "nan.onnx", "--fail-under", "1000", cwd=tmp_path)
    _record("predictor NaN + --fail-under", outcome)
    _one_line_error(outcome, "nan.onnx: predicted NaN or infinity for 1 of 1 cohorts")


def test_a_sane_predictor_gates_as_documented(tmp_path: Path) -> None:
    args = _replayable(tmp_path)
    onnx_models.constant(tmp_path / "q.onnx", 0.25)
    at = run_datalint(*args, "--predictor", "q.onnx", "--fail-under", "0.25", cwd=tmp_path)
    assert_clean_exit(at, 0)
    above = run_datalint(*args, "--predictor", "q.onnx", "--fail-under", "0.3", cwd=tmp_path)
    assert_clean_exit(above, 1)
