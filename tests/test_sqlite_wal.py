"""Every SQLite store opens in WAL mode even when several processes create it at the same moment.

Before ``connect_wal`` retried the journal-mode switch, 8 processes opening a fresh rollout cache
at once failed with "database is locked" in about half of the rounds (and the calibration store
the same), because SQLite does not wait out the busy timeout for that switch.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from datalint.sqlite_wal import connect_wal, is_busy

WORKER = Path(__file__).resolve().parent / "sqlite_open_worker.py"
PROCESSES = 8
ROUNDS = 5


def _open_at_once(kind: str, path: Path) -> list[tuple[int, str, str]]:
    start_at = time.time() + 2.0  # every worker imported and waiting before this moment
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), kind, str(path), repr(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out.strip(), err.strip()[-300:]))
    return results


@pytest.mark.parametrize(("kind", "word"), [("cache", "cached"), ("store", "stored")])
def test_eight_processes_open_a_fresh_store_at_once(tmp_path: Path, kind: str, word: str) -> None:
    for round_ in range(ROUNDS):
        path = tmp_path / f"r{round_}" / ("cache" if kind == "cache" else "store.sqlite")
        path.parent.mkdir()
        results = _open_at_once(kind, path)
        assert results == [(0, word, "")] * PROCESSES, f"round {round_}: {results}"
        db_file = path / "rollouts.sqlite3" if kind == "cache" else path
        conn = sqlite3.connect(db_file)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        table = "file_hashes" if kind == "cache" else "baselines"
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == PROCESSES
        conn.close()


def test_the_switch_waits_for_a_writer_instead_of_failing_at_once(tmp_path: Path) -> None:
    # The race, made deterministic: another connection holds the write lock of a file still in
    # rollback-journal mode (as a process creating the store does). SQLite fails the WAL switch
    # at once there, busy timeout or not; connect_wal waits until the writer commits.
    path = tmp_path / "db.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    raw = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        raw.execute("PRAGMA journal_mode = WAL")  # what every store did before
    raw.close()
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    start = time.monotonic()
    try:
        conn = connect_wal(path, busy_timeout_s=5.0)
    finally:
        release.join()
        holder.close()
    assert time.monotonic() - start >= 0.25
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    conn.close()


def test_a_lock_held_past_the_busy_timeout_still_fails(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        start = time.monotonic()
        with pytest.raises(sqlite3.OperationalError) as caught:
            connect_wal(path, busy_timeout_s=0.3)
        assert is_busy(caught.value)
        assert time.monotonic() - start >= 0.25  # it waited out the timeout, not failed at once
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    conn = connect_wal(path, busy_timeout_s=0.3)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_is_busy_reads_the_error_code_and_the_message() -> None:
    locked = sqlite3.OperationalError("database is locked")
    assert is_busy(locked)
    assert not is_busy(sqlite3.OperationalError("no such table: x"))
