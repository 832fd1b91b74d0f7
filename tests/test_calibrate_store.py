"""The calibration store: commit per run, resume after a kill, never count a run twice."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datalint.calibrate.store import CalibrationStore, RunKey, RunRecord, StoreError

FAKES = Path(__file__).resolve().parent / "calibrate_fakes.py"


def _record(key: RunKey, nll_after: float = 1.5) -> RunRecord:
    return RunRecord(
        key=key,
        cohort_id="c1",
        subject="add",
        data_hash="d",
        n_items=2,
        features={"adv_std": 0.5, "mean_logprob": None, "entropy_mean": float("nan")},
        item_pass_rates=[0.5, 1.0],
        nll_before=2.0,
        nll_after=nll_after,
        pgold_before=0.2,
        pgold_after=0.25,
        settings={"lr": 5e-5},
        timings={"train_s": 1.5, "setup_s": 0.25},
    )


def test_round_trip_and_labels(tmp_path):
    key = RunKey("ck", 1000, "s", "m", "p")
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        assert store.add_run(_record(key))
        assert store.has_run(key)
        (rec,) = list(store.runs())
    assert rec.lift == pytest.approx(0.5)  # 2.0 before - 1.5 after
    assert rec.reward_lift == pytest.approx(0.05)
    assert rec.features["mean_logprob"] is None
    assert rec.features["entropy_mean"] is None  # NaN is stored as missing, not as a number
    assert rec.timings == {"train_s": 1.5, "setup_s": 0.25}
    assert rec.settings == {"lr": 5e-5}


def test_same_run_is_never_counted_twice(tmp_path):
    key = RunKey("ck", 1000, "s", "m", "p")
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        assert store.add_run(_record(key, 1.5))
        assert not store.add_run(_record(key, 1.0))
        assert store.add_run(_record(RunKey("ck", 1001, "s", "m", "p")))
        assert store.add_run(_record(RunKey("ck", 1000, "other-settings", "m", "p")))
        assert store.count_runs() == 3
        first = next(r for r in store.runs() if r.key == key)
    assert first.nll_after == 1.5  # the first measurement stands


def test_baseline_and_wal(tmp_path):
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        assert store.baseline("m", "p") is None
        store.set_baseline("m", "p", 2.5, 0.1)
        assert store.baseline("m", "p") == (2.5, 0.1)
    mode = sqlite3.connect(tmp_path / "s.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_not_a_store_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"bad\.sqlite"):
        CalibrationStore(bad)


def _count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        return sqlite3.connect(path, timeout=5).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path):
    store, n_jobs = tmp_path / "s.sqlite", 16
    log1, log2 = tmp_path / "run1.log", tmp_path / "run2.log"
    proc = subprocess.Popen(
        [sys.executable, str(FAKES), str(store), str(log1), str(n_jobs)], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while _count(store) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: the script and its workers
        proc.wait()
    stored_at_kill = _count(store)
    assert 4 <= stored_at_kill < n_jobs, "the kill must land mid-run"

    subprocess.run(
        [sys.executable, str(FAKES), str(store), str(log2), str(n_jobs)], check=True, timeout=120
    )
    db = sqlite3.connect(store)
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == n_jobs
    distinct = db.execute("SELECT COUNT(DISTINCT cohort_key || ':' || seed) FROM runs").fetchone()
    assert distinct[0] == n_jobs
    resumed = log2.read_text().split()
    # the resumed run measured exactly the runs missing from the store, each once
    assert len(resumed) == n_jobs - stored_at_kill == len(set(resumed))
    # nothing the first run committed was measured again
    first_committed = {
        f"{k}:{s}" for k, s in db.execute("SELECT cohort_key, seed FROM runs").fetchall()
    } - set(resumed)
    assert len(first_committed) == stored_at_kill


def test_the_resume_check_includes_the_seed(tmp_path):
    from datalint.calibrate.run import pending_runs

    stored = RunKey("ck", 1000, "s", "m", "p")
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        store.add_run(_record(stored))
        assert store.has_run(stored)
        assert not store.has_run(RunKey("ck", 1001, "s", "m", "p"))  # that seed was never run
        keys = [RunKey("ck", seed, "s", "m", "p") for seed in (1000, 1001, 1002)]
        todo, already, total = pending_runs(store, [*keys, keys[1]])  # a repeated cohort
    assert [k.seed for k in todo] == [1001, 1002]
    assert (already, total) == (1, 3)


def _owner(pid: int, host: str | None = None):
    import socket

    from datalint.calibrate.store import ClaimOwner

    return ClaimOwner(f"owner-{pid}-{host}", host or socket.gethostname(), pid)


def test_a_live_claim_is_respected_and_a_stored_run_is_never_claimed(tmp_path):
    key = RunKey("ck", 1000, "s", "m", "p")
    me, other = _owner(os.getpid()), _owner(os.getppid())
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        assert store.claim(key, me)
        assert store.claim(key, me)  # a claim is re-entrant for its owner
        assert not store.claim(key, other)  # held by a live process with a fresh heartbeat
        store.add_run(_record(key))
        assert store.claims() == []  # the finished run dropped its claim
        assert not store.claim(key, other) and not store.claim(key, me)
        second = RunKey("ck", 1001, "s", "m", "p")
        assert store.claim(second, me)
        store.release_claims(me)
        assert store.claim(second, other)


def test_stale_claims_are_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    key_dead, key_far = RunKey("a", 1, "s", "m", "p"), RunKey("b", 1, "s", "m", "p")
    me = _owner(os.getpid())
    far_away = _owner(os.getpid(), host="another-host")
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        assert store.claim(key_dead, _owner(dead_pid))
        assert store.claim(key_dead, me)  # its owner's pid is gone on this host
        assert store.claim(key_far, far_away)
        assert not store.claim(key_far, me)  # another host: only its heartbeat tells
        assert store.claim(key_far, me, stale_after_s=0.0)  # no heartbeat for too long
        assert sorted(owner for _, owner, _, _ in store.claims()) == [me.id, me.id]


def test_the_heartbeat_refreshes_claims(tmp_path):
    from datalint.calibrate.store import Heartbeat

    key = RunKey("ck", 1, "s", "m", "p")
    me = _owner(os.getpid())
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        store.claim(key, me)
        before = store._db.execute("SELECT heartbeat FROM claims").fetchone()[0]
        with Heartbeat(store.path, me, interval_s=0.05):
            time.sleep(0.4)
        after = store._db.execute("SELECT heartbeat FROM claims").fetchone()[0]
    assert after > before


def test_two_calibrations_on_one_store_run_each_job_exactly_once(tmp_path):
    store, n_jobs = tmp_path / "s.sqlite", 16
    CalibrationStore(store).close()  # both start on an existing store; the open race has its test
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [
        subprocess.Popen(
            [sys.executable, str(FAKES), str(store), str(log), str(n_jobs), "1"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for log in logs
    ]
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    executed = [line for log in logs if log.exists() for line in log.read_text().split()]
    assert len(executed) == n_jobs == len(set(executed)), executed
    done = [int(out.split()[1]) for out in outs]
    assert sum(done) == n_jobs
    db = sqlite3.connect(store)
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == n_jobs
    assert db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
