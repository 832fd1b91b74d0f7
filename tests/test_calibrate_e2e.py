"""calibrate -> fit -> evaluate end to end on a tiny policy: 2 cohorts, 1 seed, 2 GRPO steps.

Uses the shipped tiny policy when it is there, else a tiny random char-level GPT-2 built here.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sqlite3
from pathlib import Path

import onnxruntime
import pytest
from click.testing import CliRunner

from datalint.cli import cli
from datalint.features_names import FEATURE_NAMES, GRADIENT_SIGNALS

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "trl", "xgboost")),
    reason="needs the 'calibrate' extra",
)
SHIPPED = Path(__file__).resolve().parent.parent / "pretrained" / "tiny-policy"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    from datalint.world import cohort_records, draw_problem, make_cohorts, problem_record

    tmp = tmp_path_factory.mktemp("e2e")
    if (SHIPPED / "config.json").is_file():
        model = SHIPPED
    else:
        from tests.tiny_hf_model import build_tiny_model

        model = build_tiny_model(tmp / "model")
    data = tmp / "data.jsonl"
    with data.open("w") as fh:
        for cohort in make_cohorts(2, ["add", "mul"], seed=3, size=2, scrambled_share=0.0):
            for record in cohort_records(cohort):
                fh.write(json.dumps(record) + "\n")
    rng = random.Random(1)
    probe = tmp / "probe.jsonl"
    with probe.open("w") as fh:
        for i, subject in enumerate(["add", "sub", "mul"]):
            fh.write(json.dumps(problem_record(draw_problem(rng, subject, 1), f"p{i}")) + "\n")
    return {"tmp": tmp, "model": model, "data": data, "probe": probe}


def _calibrate(world: dict[str, Path]):
    args = [
        "calibrate", str(world["data"]), "--probe", str(world["probe"]),
        "--store", str(world["tmp"] / "store.sqlite"), "--model", str(world["model"]),
        "--steps", "2", "--seeds", "1", "--workers", "1", "--max-new-tokens", "8",
        "--cache-dir", str(world["tmp"] / "cache"),
    ]  # fmt: skip
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_calibrate_fit_evaluate(world):
    first = _calibrate(world)
    assert first.exit_code == 0, first.output
    assert "2 new runs" in first.stdout
    rows = (
        sqlite3.connect(world["tmp"] / "store.sqlite")
        .execute(
            "SELECT cohort_id, seed, features, item_pass_rates, nll_before, nll_after, lift, "
            "train_s, settings FROM runs ORDER BY cohort_id"
        )
        .fetchall()
    )
    assert [(r[0], r[1]) for r in rows] == [("c0000", 1000), ("c0001", 1000)]
    for _, _, features, rates, before, after, lift, train_s, settings in rows:
        stored = json.loads(features)
        assert list(stored) == [*FEATURE_NAMES, *GRADIENT_SIGNALS]  # the 23, then the signals
        assert all(isinstance(stored[name], float) for name in GRADIENT_SIGNALS)
        assert len(json.loads(rates)) == 2
        assert lift == pytest.approx(before - after)
        assert train_s > 0
        assert json.loads(settings)["feature_seed"] == 0  # training seeds start at 1000

    again = _calibrate(world)  # resume: everything is stored, nothing runs twice
    assert again.exit_code == 0 and "0 new runs, 2 already stored" in again.stdout

    onnx_path = world["tmp"] / "p.onnx"
    fit = CliRunner().invoke(
        cli,
        ["fit", str(world["tmp"] / "store.sqlite"), "-o", str(onnx_path)],
        catch_exceptions=False,
    )
    assert fit.exit_code == 0, fit.output
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    assert card["n_cohorts"] == 2 and card["n_seeds"] == 1
    assert card["features"] == list(FEATURE_NAMES)
    meta = onnxruntime.InferenceSession(str(onnx_path)).get_modelmeta().custom_metadata_map
    assert meta["datalint.training_data_hash"] == card["training_data_hash"]

    out = world["tmp"] / "eval"
    ev = CliRunner().invoke(
        cli,
        ["evaluate", str(world["tmp"] / "store.sqlite"), "-o", str(out)],
        catch_exceptions=False,
    )
    assert ev.exit_code == 0, ev.output
    assert "only 1 seed(s)" in ev.stdout  # label validation speaks before any metric
    result = json.loads((out / "evaluation.json").read_text())
    assert result["n_cohorts"] == 2
    assert (out / "predicted_vs_actual_nll.png").stat().st_size > 0


def test_bad_store_and_bad_data_are_one_line_errors(world, tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_text("no" * 500)
    result = CliRunner().invoke(cli, ["fit", str(bad), "-o", str(tmp_path / "x.onnx")])
    assert result.exit_code == 2
    assert "bad.sqlite" in result.stderr and "Traceback" not in result.stderr

    empty = tmp_path / "empty.sqlite"
    from datalint.calibrate.store import CalibrationStore

    CalibrationStore(empty).close()
    result = CliRunner().invoke(cli, ["evaluate", str(empty)])
    assert result.exit_code == 2 and "holds no runs" in result.stderr

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "1+1=", "answer": "2"}\n{not json\n')
    result = CliRunner().invoke(
        cli,
        [
            "calibrate",
            str(broken),
            "--probe",
            str(world["probe"]),
            "--store",
            str(tmp_path / "s.sqlite"),
            "--model",
            str(world["model"]),
        ],
    )
    assert result.exit_code == 2
    assert "broken.jsonl:2" in result.stderr


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_without_vllm_names_the_extra(world, tmp_path):
    args = [
        "calibrate", str(world["data"]), "--probe", str(world["probe"]),
        "--store", str(tmp_path / "s.sqlite"), "--backend", "vllm",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "pip install 'datalint[vllm]'" in result.stderr
    assert not (tmp_path / "s.sqlite").exists()  # nothing started before the check


def test_trl_option_must_be_key_value(world, tmp_path):
    args = [
        "calibrate", str(world["data"]), "--probe", str(world["probe"]),
        "--store", str(tmp_path / "s.sqlite"), "--trl-option", "oops",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "KEY=VALUE" in result.stderr


def test_two_calibrate_processes_on_one_store_train_each_run_once(tmp_path):
    """Two real ``datalint calibrate`` processes started together on one store: claims split
    the 6 (cohort, seed) runs between them, and none is trained twice."""
    import os
    import re
    import subprocess
    import sys

    from datalint.world import cohort_records, make_cohorts

    model = SHIPPED if (SHIPPED / "config.json").is_file() else None
    if model is None:
        pytest.skip("needs the shipped tiny policy")
    data = tmp_path / "data.jsonl"
    with data.open("w") as fh:
        for cohort in make_cohorts(3, ["add", "mul"], seed=3, size=2, scrambled_share=0.0):
            for record in cohort_records(cohort):
                fh.write(json.dumps(record) + "\n")
    probe = tmp_path / "probe.jsonl"
    probe.write_text('{"prompt": "12+30=", "answer": "42"}\n{"prompt": "7*6=", "answer": "42"}\n')
    store = tmp_path / "store.sqlite"
    args = [
        sys.executable, "-m", "datalint", "calibrate", str(data), "--probe", str(probe),
        "--store", str(store), "--model", str(model), "--steps", "2", "--seeds", "2",
        "--workers", "1", "--max-new-tokens", "8", "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    procs = [subprocess.Popen(args, cwd=tmp_path, env=env, **pipes) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in results]
    new = [int(re.search(r"(\d+) new runs", out).group(1)) for out, _ in results]
    assert sum(new) == 6, results  # without claims each process trains all 6
    db = sqlite3.connect(store)
    rows = db.execute("SELECT cohort_id, seed FROM runs ORDER BY 1, 2").fetchall()
    assert rows == [(f"c000{c}", s) for c in range(3) for s in (1000, 1001)]
    assert db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def test_ray_executor_without_ray_names_the_extra(world, tmp_path, monkeypatch):
    import datalint.calibrate.run as run

    real = run._importable
    monkeypatch.setattr(run, "_importable", lambda m: m != "ray" and real(m))
    args = [
        "calibrate", str(world["data"]), "--probe", str(world["probe"]),
        "--store", str(tmp_path / "s.sqlite"), "--executor", "ray",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "pip install 'datalint[ray]'" in result.stderr
    assert not (tmp_path / "s.sqlite").exists()  # nothing started before the check


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the 'ray' extra")
def test_calibrate_on_ray_stores_what_the_process_pool_stores(world, tmp_path):
    """Real GRPO runs as Ray tasks (a private 2-CPU local cluster, in a subprocess of its own)
    give the very store contents of the local process pool."""
    import subprocess
    import sys

    from datalint.calibrate.store import CalibrationStore

    def calibrate(store: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        args = [
            sys.executable, "-m", "datalint", "calibrate", str(world["data"]),
            "--probe", str(world["probe"]), "--store", str(store), "--model", str(world["model"]),
            "--steps", "2", "--seeds", "2", "--max-new-tokens", "8",
            "--cache-dir", str(world["tmp"] / "cache"), *extra,
        ]  # fmt: skip
        return subprocess.run(args, capture_output=True, text=True, timeout=600)

    on_ray = calibrate(tmp_path / "ray.sqlite", "--executor", "ray", "--workers", "2")
    assert on_ray.returncode == 0, on_ray.stderr[-2000:]
    assert "4 new runs" in on_ray.stdout
    pool = calibrate(tmp_path / "pool.sqlite", "--workers", "1")
    assert pool.returncode == 0, pool.stderr[-2000:]
    with (
        CalibrationStore(tmp_path / "ray.sqlite") as a,
        CalibrationStore(tmp_path / "pool.sqlite") as b,
    ):
        assert a.count_runs() == 4
        assert a.content_hash() == b.content_hash()
