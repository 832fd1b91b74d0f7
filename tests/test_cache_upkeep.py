"""`datalint cache info|prune` on real SQLite files: exact rows kept, sizes, concurrent readers."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_backend import FakeBackend

from datalint.cli import cli
from datalint.load.records import Item, Rollout, Source
from datalint.rollout.base import SamplingParams, prompt_hash
from datalint.rollout.cache import CACHE_FILENAME, RolloutCache
from datalint.rollout.cache_upkeep import (
    CacheUpkeepError,
    cache_info,
    parse_size,
    prune,
    record_use,
)
from datalint.rollout.stage import obtain_rollouts

DAY = 86400.0
NOW = 1_800_000_000.0
REPO = Path(__file__).resolve().parents[1]
# (model, prompt, days since last use)
LAYOUT = [
    ("m:aaaa1111", "a0", 40),
    ("m:aaaa1111", "a1", 10),
    ("m:aaaa1111", "a2", 1),
    ("m:bbbb2222", "b0", 50),
    ("m:bbbb2222", "b1", 5),
    ("m:bbbb2222", "b2", 0),
]
NAMES = {"m:aaaa1111": "alpha", "m:bbbb2222": "beta"}


def populate(directory: Path, payload_bytes: int = 10, now: float = NOW) -> Path:
    with RolloutCache(directory) as cache:
        for model, prompt, days in LAYOUT:
            rollout = Rollout(completion="x" * payload_bytes, logprobs=[-0.5], entropies=[0.1])
            rollout.n_tokens = 1
            cache.put_many(model, "p", [((prompt, 1), [rollout])])
            record_use(
                cache.path,
                model,
                "p",
                [(prompt, 1)],
                name=NAMES[model],
                label=f"{NAMES[model]} model",
                now=now - days * DAY,
            )
    return directory / CACHE_FILENAME


def kept(path: Path) -> set[str]:
    by_hash = {prompt_hash(p): p for _, p, _ in LAYOUT}
    with sqlite3.connect(path) as conn:
        return {by_hash[h] for (h,) in conn.execute("SELECT prompt_sha256 FROM rollouts")}


def test_info_lists_models_with_rows_and_last_use(tmp_path: Path) -> None:
    path = populate(tmp_path)
    info = cache_info(path)
    assert info.exists and info.rows == 6
    wal = Path(f"{path}-wal")
    assert info.size_bytes == path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    assert [(m.fingerprint, m.name, m.rows, m.last_used) for m in info.models] == [
        ("m:bbbb2222", "beta", 3, NOW),
        ("m:aaaa1111", "alpha", 3, NOW - 1 * DAY),
    ]


def test_older_than_keeps_exactly_the_recent_rows(tmp_path: Path) -> None:
    path = populate(tmp_path)
    result = prune(path, older_than_days=7, now=NOW)
    assert (result.rows_before, result.rows_deleted) == (6, 3)
    assert result.deleted_by_model == {"m:aaaa1111": 2, "m:bbbb2222": 1}
    assert kept(path) == {"a2", "b1", "b2"}
    with sqlite3.connect(path) as conn:  # the side table follows
        assert conn.execute("SELECT COUNT(*) FROM rollout_use").fetchone()[0] == 3


def test_model_alone_deletes_that_model_by_name_or_prefix(tmp_path: Path) -> None:
    path = populate(tmp_path)
    prune(path, model="alpha", now=NOW)
    assert kept(path) == {"b0", "b1", "b2"}
    prune(path, model="m:bbbb22", now=NOW)
    assert kept(path) == set()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM model_labels").fetchone()[0] == 0


def test_model_and_age_combine(tmp_path: Path) -> None:
    path = populate(tmp_path)
    prune(path, model="m:aaaa1111", older_than_days=7, now=NOW)
    assert kept(path) == {"a2", "b0", "b1", "b2"}


def test_max_size_evicts_least_recently_used_first(tmp_path: Path) -> None:
    path = populate(tmp_path, payload_bytes=50_000)
    before = path.stat().st_size
    assert before > 6 * 50_000
    limit = 185 * 1024  # room for three 50 kB rows and the file's own pages, not four
    result = prune(path, max_size=limit, now=NOW)
    # newest first: b2 (0 d), a2 (1 d), b1 (5 d)
    assert kept(path) == {"b2", "a2", "b1"}
    assert result.rows_deleted == 3
    assert result.size_after <= limit < result.size_before


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    path = populate(tmp_path)
    data = path.read_bytes()
    result = prune(path, older_than_days=7, dry_run=True, now=NOW)
    assert result.dry_run and result.rows_deleted == 3
    assert kept(path) == {p for _, p, _ in LAYOUT}
    assert path.read_bytes() == data


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs --older-than, --max-size or --model"),
        ({"model": "gamma"}, "no such model"),
        ({"model": "m:"}, "ambiguous"),
    ],
)
def test_prune_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    path = populate(tmp_path)
    with pytest.raises(CacheUpkeepError, match=message):
        prune(path, **kwargs)


@pytest.mark.parametrize(
    ("text", "size"),
    [("4096", 4096), ("500M", 500 << 20), ("2G", 2 << 30), ("1.5GiB", 3 << 29), ("100kb", 102400)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_refuses_nonsense() -> None:
    with pytest.raises(CacheUpkeepError, match="expected a size"):
        parse_size("lots")


def test_prune_while_another_process_reads(tmp_path: Path) -> None:
    path = populate(tmp_path, now=time.time())
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM rollouts").fetchone()[0] == 6
    env = {**os.environ, "PYTHONPATH": str(REPO), "DATALINT_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "datalint", "cache", "prune", "--older-than", "30"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("deleted 2 of 6 rows")
    # The reader's snapshot is untouched; a new reader sees the pruned cache.
    assert reader.execute("SELECT COUNT(*) FROM rollouts").fetchone()[0] == 6
    reader.execute("COMMIT")
    reader.close()
    assert kept(path) == {"a1", "a2", "b1", "b2"}


def test_cli_info_text_and_json(tmp_path: Path) -> None:
    populate(tmp_path)
    runner = CliRunner()
    text = runner.invoke(cli, ["cache", "info", "--cache-dir", str(tmp_path)])
    assert text.exit_code == 0, text.output
    assert f"cache: {tmp_path / CACHE_FILENAME}" in text.output
    assert "rows: 6" in text.output
    assert "m:bbbb2222  beta model  3 rows" in text.output
    as_json = runner.invoke(
        cli, ["cache", "info", "--cache-dir", str(tmp_path), "--format", "json"]
    )
    payload = json.loads(as_json.output)
    assert payload["rows"] == 6
    assert [(m["name"], m["rows"]) for m in payload["models"]] == [("beta", 3), ("alpha", 3)]


def test_cli_info_without_a_cache_creates_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["cache", "info", "--cache-dir", str(tmp_path / "none")])
    assert result.exit_code == 0
    assert "no cache file yet" in result.output
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prune"], "needs --older-than, --max-size or --model"),
        (["prune", "--max-size", "huge"], "expected a size"),
        (["prune", "--model", "gamma"], "no such model"),
    ],
)
def test_cli_prune_errors_are_one_line_exit_2(tmp_path: Path, args: list, message: str) -> None:
    populate(tmp_path)
    result = CliRunner().invoke(cli, ["cache", *args, "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_cli_prune_dry_run_then_for_real(tmp_path: Path) -> None:
    path = populate(tmp_path)
    runner = CliRunner()
    dry = runner.invoke(
        cli, ["cache", "prune", "--model", "alpha", "--dry-run", "--cache-dir", str(tmp_path)]
    )
    assert dry.exit_code == 0
    assert dry.output.splitlines()[0] == "would delete 3 of 6 rows"
    assert len(kept(path)) == 6
    real = runner.invoke(cli, ["cache", "prune", "--model", "alpha", "--cache-dir", str(tmp_path)])
    assert real.exit_code == 0
    assert real.output.splitlines()[0] == "deleted 3 of 6 rows"
    assert kept(path) == {"b0", "b1", "b2"}


def test_the_rollout_stage_records_use_and_name(tmp_path: Path) -> None:
    items = [Item(source=Source("d.jsonl", i + 1), answer="0", prompt=f"{i}+0=") for i in range(3)]

    def run_once() -> None:
        obtain_rollouts(
            items,
            backend_name="fake",
            model=None,
            params=SamplingParams(n=2, max_new_tokens=4),
            rollouts_file=None,
            cache_dir=str(tmp_path),
            use_cache=True,
            progress=False,
            backend=FakeBackend(),
        )

    run_once()
    first = cache_info(tmp_path / CACHE_FILENAME)
    assert [(m.fingerprint, m.name, m.rows) for m in first.models] == [
        ("fake:fake-model", "fake", 3)
    ]
    assert time.time() - first.models[0].last_used < 60
    with sqlite3.connect(tmp_path / CACHE_FILENAME) as conn:  # as if that run was 2 days ago
        conn.execute("UPDATE rollout_use SET used = used - 2 * 86400")
    assert prune(tmp_path / CACHE_FILENAME, older_than_days=1, dry_run=True).rows_deleted == 3
    run_once()  # a warm run reads only, and still counts as a use
    second = cache_info(tmp_path / CACHE_FILENAME)
    assert time.time() - second.models[0].last_used < 60
    assert prune(tmp_path / CACHE_FILENAME, older_than_days=1).rows_deleted == 0


def test_a_use_within_the_hour_is_not_rewritten(tmp_path: Path) -> None:
    path = populate(tmp_path)
    record_use(path, "m:bbbb2222", "p", [("b2", 1)], name="beta", label="beta", now=NOW + 600)
    record_use(path, "m:bbbb2222", "p", [("b1", 1)], name="beta", label="beta", now=NOW + 600)
    with sqlite3.connect(path) as conn:
        used = dict(conn.execute("SELECT prompt_sha256, used FROM rollout_use").fetchall())
    assert used[prompt_hash("b2")] == NOW  # used 10 minutes before: kept
    assert used[prompt_hash("b1")] == NOW + 600  # used 5 days before: updated
