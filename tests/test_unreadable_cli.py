"""S022 / S023 through the CLI on the shipped tiny policy (20 tokens, a 32-token context):
reported at file:line in every format, on warm runs too, left out of the features; exit 2 when
most of the data cannot be read by the default policy; calibrate's pre-flight; model options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("transformers")

from datalint.cli import cli

TOO_LONG = "+".join(["1"] * 20) + "="  # 40 in-vocabulary characters: over the 32-token context
ROWS = [
    {"prompt": TOO_LONG, "answer": "20"},  # line 1: S022
    {"prompt": "2+3=", "answer": "5"},
    {"prompt": "two+3=", "answer": "5"},  # line 3: S023 ('t', 'w', 'o' are unknown)
    {"prompt": "4+4=", "answer": "8"},
    {"prompt": "7+1=", "answer": "8"},
]
SAMPLING = ["--rollouts-per-item", "2", "--max-new-tokens", "4"]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def check(*args: str, cache: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, ["check", *args, "--cache-dir", str(cache), *SAMPLING], catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def test_flags_at_file_line_and_left_out_of_the_features_cold_and_warm(tmp_path: Path) -> None:
    data = write(tmp_path / "d.jsonl", ROWS)
    reports = []
    for _ in range(2):  # cold, then warm from the cache
        code, out, _ = check(str(data), "--format", "json", cache=tmp_path / "cache")
        assert code == 1  # RW rules on the readable arithmetic still apply
        reports.append(json.loads(out))
    for report in reports:
        flagged = [(f["code"], f["line"]) for f in report["findings"] if f["code"] >= "S022"]
        flagged = [x for x in flagged if x[0] in ("S022", "S023")]
        assert flagged == [("S022", 1), ("S023", 3)]
        s022 = next(f for f in report["findings"] if f["code"] == "S022")
        assert s022["level"] == "warning" and "41 tokens" in s022["message"]
        first, _ = report["cohorts"]  # cohorts of 4: lines 1-4 and 5
        assert [entry["line"] for entry in first["lines"]] == [2, 4]  # lines 1 and 3 left out
        assert first["features"]["n_groups"] == 2
        assert first["predicted_lift"] is not None
    assert reports[0]["findings"] == reports[1]["findings"]


@pytest.mark.parametrize(
    ("fmt", "needle"),
    [
        ("concise", "d.jsonl:1: S022 [warning]"),
        ("github", "::warning file=d.jsonl,line=1"),
        ("sarif", '"ruleId": "S023"'),
    ],
)
def test_every_format_reports_them(
    tmp_path: Path, fmt: str, needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write(tmp_path / "d.jsonl", ROWS)
    monkeypatch.chdir(tmp_path)
    code, out, _ = check(data.name, "--format", fmt, cache=tmp_path / "cache")
    assert code == 1
    assert needle in out


def test_a_cohort_with_nothing_readable_gets_no_prediction_said_plainly(tmp_path: Path) -> None:
    rows = [
        {"prompt": TOO_LONG, "answer": "20", "cohort": "lost"},
        {"prompt": "2+3=", "answer": "5", "cohort": "ok"},
        {"prompt": "4+4=", "answer": "8", "cohort": "ok"},
    ]
    data = write(tmp_path / "d.jsonl", rows)
    _, out, err = check(str(data), "--format", "json", cache=tmp_path / "cache")
    report = json.loads(out)
    assert [c["id"] for c in report["cohorts"]] == ["ok"]
    (skipped,) = [s for s in report["summary"]["skipped_stages"] if "lost" in s]
    assert "cohort lost (line 1)" in skipped and "can read none of its prompts" in skipped
    assert "skipped features and prediction of cohort lost" in err


def test_english_prose_with_the_default_policy_exits_2_asking_for_a_model(tmp_path: Path) -> None:
    rows = [
        {"prompt": "Natalia sold clips to 48 of her friends in April. How many?", "answer": "72"},
        {"prompt": "What is the sum of two and three?", "answer": "5"},
        {"prompt": "2+3=", "answer": "5"},
    ]
    data = write(tmp_path / "prose.jsonl", rows)
    env = {**os.environ, "DATALINT_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    for _ in range(2):  # warm: the verdicts come from the cache, the exit stays 2
        proc = subprocess.run(
            [sys.executable, "-m", "datalint", "check", str(data), *SAMPLING],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr
        assert "2 of 3 prompts cannot be read by the default policy" in lines[0]
        assert "pass --model DIR" in lines[0]


def test_an_explicit_model_is_not_refused_only_flagged(tmp_path: Path) -> None:
    from tests.tiny_hf_model import build_tiny_model

    model = build_tiny_model(tmp_path / "m", n_positions=16)
    rows = [{"prompt": "What IS this", "answer": "1"}, {"prompt": "WHY", "answer": "1"}]
    data = write(tmp_path / "d.jsonl", rows)
    code, out, _ = check(str(data), "--model", str(model), "--format", "json", cache=tmp_path / "c")
    report = json.loads(out)
    assert [f["code"] for f in report["findings"]] == ["S023", "S023"]
    assert report["cohorts"] == [] and code == 0


def test_calibrate_preflight_stops_before_any_grpo_run(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    data = write(tmp_path / "d.jsonl", ROWS[:2])
    probe = write(tmp_path / "probe.jsonl", [{"prompt": "2+3=", "answer": "5"}])
    store = tmp_path / "store.sqlite"
    result = CliRunner().invoke(
        cli,
        ["calibrate", str(data), "--probe", str(probe), "--store", str(store), "--seeds", "1"],
        catch_exceptions=False,
    )
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "\n" not in message and "internal error" not in message
    assert f"{data}:1: does not fit: 41 tokens plus 8 new" in message
    assert "--max-completion-length 8" in message
    assert not store.exists()  # nothing was started


def test_bad_model_options_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write(tmp_path / "d.jsonl", ROWS[1:2])
    (tmp_path / "datalint.toml").write_text('dtype = "int4"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, _, err = check(data.name, cache=tmp_path / "cache")
    assert code == 2 and "dtype: expected one of float32, bfloat16, float16" in err
    (tmp_path / "datalint.toml").unlink()
    import torch

    if not torch.cuda.is_available():
        code, _, err = check(data.name, "--device", "cuda", "--no-cache", cache=tmp_path / "c")
        assert code == 2 and "--device cuda: torch sees no CUDA device" in err


def test_import_gguf_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["model", "import-gguf", str(tmp_path / "none.gguf")])
    assert missing.exit_code == 2 and "none.gguf: no such GGUF file" in missing.stderr
    package = runner.invoke(cli, ["model", "import-gguf", "--package", "no-such-dist-xyz"])
    assert (
        package.exit_code == 2 and "package 'no-such-dist-xyz' is not installed" in package.stderr
    )
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    bad = runner.invoke(cli, ["model", "import-gguf", str(bogus), "-o", str(tmp_path / "out")])
    assert bad.exit_code == 2 and "bogus.gguf" in bad.stderr and "Traceback" not in bad.output
    assert not (tmp_path / "out").exists()


def test_rollout_names_the_prompts_it_could_not_sample(tmp_path: Path) -> None:
    data = write(tmp_path / "d.jsonl", ROWS)
    out = tmp_path / "r.jsonl"
    args = ["rollout", str(data), "-o", str(out), "--cache-dir", str(tmp_path / "c"), *SAMPLING]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"2 prompts the model cannot read got no rollouts (first: {data}:1: does not fit" in (
        result.stderr
    )
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()[1:]]
    assert [len(line["rollouts"]) for line in lines] == [0, 2, 0, 2, 2]


def test_a_rollouts_file_carries_the_verdict_to_check(tmp_path: Path) -> None:
    """The GPU-box step writes S022/S023 verdicts into the file; check --rollouts reports them."""
    data = write(tmp_path / "d.jsonl", ROWS)
    out = tmp_path / "r.rollouts.jsonl"
    args = ["rollout", str(data), "-o", str(out), "--cache-dir", str(tmp_path / "c"), *SAMPLING]
    assert CliRunner().invoke(cli, args, catch_exceptions=False).exit_code == 0
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()[1:]]
    assert [("unreadable" in line) for line in lines] == [True, False, True, False, False]
    assert lines[0]["unreadable"]["tokens"] == 41 and lines[2]["unreadable"]["unknown"] == 3
    code, stdout, _ = check(
        str(data), "--rollouts", str(out), "--format", "json", "--no-cache", cache=tmp_path / "x"
    )
    assert code == 1  # the readable arithmetic still fails its RW rules, as when sampling
    report = json.loads(stdout)
    flagged = [(f["code"], f["line"]) for f in report["findings"] if f["code"] in ("S022", "S023")]
    assert flagged == [("S022", 1), ("S023", 3)]
    first, _ = report["cohorts"]
    assert [entry["line"] for entry in first["lines"]] == [2, 4]  # left out, as when sampling
