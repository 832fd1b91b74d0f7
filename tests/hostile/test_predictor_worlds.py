"""The predictor's multi-world inputs, attacked: store dumps that try to write outside their
temporary file or to exhaust memory, and predictors whose derived-input or output-map metadata
is malformed. Each is a clean exit 2 naming the file, and nothing outside is touched."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.calibrate_synth import synthetic_store
from tests.hostile.harness import assert_clean_exit, run_datalint

SETTINGS = {"steps": 8, "lr": 5e-5, "feature_seed": 1000, "similarity_method": "char-ngram"}


def _dump(db: Path, out: Path, extra: str = "") -> Path:
    with sqlite3.connect(db) as conn, gzip.open(out, "wt", encoding="utf-8") as fh:
        fh.write(extra)
        for line in conn.iterdump():
            fh.write(line + "\n")
    return out


def test_a_store_dump_cannot_attach_a_file_outside(tmp_path: Path, sentinel) -> None:
    db = tmp_path / "s.sqlite"
    synthetic_store(db, n_cohorts=6, settings=SETTINGS).close()
    target = sentinel.path / "planted.db"
    evil = _dump(
        db,
        tmp_path / "store.sql.gz",
        f"ATTACH DATABASE '{target}' AS planted;\nCREATE TABLE planted.t(x);\n",
    )
    outcome = run_datalint("evaluate", str(evil), "--folds", "3", cwd=tmp_path)
    assert_clean_exit(outcome, 2)
    assert "store.sql.gz" in outcome.stderr and "not a readable store dump" in outcome.stderr
    assert not target.exists()
    assert sentinel.unchanged()


def test_a_store_dump_cannot_run_other_pragmas(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    synthetic_store(db, n_cohorts=6, settings=SETTINGS).close()
    evil = _dump(db, tmp_path / "store.sql.gz", "PRAGMA temp_store_directory = '/tmp';\n")
    outcome = run_datalint("fit", str(evil), "-o", str(tmp_path / "p.onnx"), cwd=tmp_path)
    assert_clean_exit(outcome, 2)
    assert "store.sql.gz" in outcome.stderr
    assert not (tmp_path / "p.onnx").exists()


def test_a_gzip_bomb_dump_is_refused_within_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "store.sql.gz"
    chunk = b"-- " + b" " * (1 << 20) + b"\n"
    with gzip.open(bomb, "wb", compresslevel=1) as fh:
        for _ in range(520):  # 520 MiB of SQL comments from a file under 1 MB
            fh.write(chunk)
    assert bomb.stat().st_size < 4 << 20
    outcome = run_datalint("evaluate", str(bomb), cwd=tmp_path, timeout=120)
    assert_clean_exit(outcome, 2)
    assert "more than 512 MiB" in outcome.stderr
    assert outcome.peak_rss_mb < 1500, outcome.peak_rss_mb


def _predictor_with(tmp_path: Path, **meta: str) -> Path:
    """The shipped predictor with metadata keys replaced."""
    from datalint.predict import default_predictor_path

    model = onnx.load(str(default_predictor_path()))
    keep = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("meta", "needle"),
    [
        ({"datalint.inputs": json.dumps(["adv_std"])}, "must start with its features"),
        ({"datalint.output_map": json.dumps({"x": [0, 1], "y": [1, 0]})}, "non-decreasing"),
        ({"datalint.output_map": '{"x": [NaN], "y": [0]}'}, "output_map"),
        ({"datalint.output_map": "{"}, "output_map"),
    ],
)
def test_malformed_predictor_metadata_is_one_line_exit_2(tmp_path: Path, meta, needle) -> None:
    from datalint.predict import LiftPredictor

    if "datalint.inputs" not in meta:  # the shipped inputs, so only the broken key is wrong
        meta = {**meta, "datalint.inputs": json.dumps(list(LiftPredictor.load().inputs))}
    path = _predictor_with(tmp_path, **meta)
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "1+1=", "answer": "2", "rollouts": [{"completion": "2"}]}\n')
    outcome = run_datalint("check", str(data), "--predictor", str(path), cwd=tmp_path)
    assert_clean_exit(outcome, 2)
    assert outcome.stderr.count("\n") == 1, outcome.stderr
    assert "bad.onnx" in outcome.stderr and needle in outcome.stderr


def test_a_derived_input_naming_an_unknown_feature_is_refused(tmp_path: Path) -> None:
    from datalint.predict import LiftPredictor

    inputs = [*LiftPredictor.load().feature_order, "rank:not_a_feature"]
    path = _predictor_with(tmp_path, **{"datalint.inputs": json.dumps(inputs)})
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "1+1=", "answer": "2"}\n')
    outcome = run_datalint("check", str(data), "--predictor", str(path), cwd=tmp_path)
    assert_clean_exit(outcome, 2)
    assert "rank:not_a_feature" in outcome.stderr
    assert np.isfinite(outcome.seconds)
