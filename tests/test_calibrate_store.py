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
    assert (rec.subject, rec.cohort_id, rec.n_items, rec.data_hash) == ("add", "c1", 2, "d")


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


def _full_record(key: RunKey, **kw) -> RunRecord:
    fields = dict(
        key=key,
        cohort_id="c9",
        subject=None,
        data_hash="dh",
        n_items=3,
        features={"adv_std": 0.5, "pass_rate": 0.25, "entropy_mean": float("nan")},
        item_pass_rates=[0.0, 0.5, 1.0],
        nll_before=2.0,
        nll_after=1.75,
        pgold_before=None,
        pgold_after=0.5,
        settings={"steps": 4, "lr": 1e-5},
        timings={
            "setup_s": 1.0,
            "train_s": 2.0,
            "probe_s": 3.0,
            "total_s": 6.0,
            "peak_rss_mb": 512.0,
        },
        datalint_version="9.9.9",
        created_at="2026-01-02T03:04:05+00:00",
    )
    fields.update(kw)
    return RunRecord(**fields)


def test_every_field_survives_the_round_trip(tmp_path):
    key = RunKey("ck", 7, "sh", "mf", "ph")
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        assert store.add_run(_full_record(key))
        (rec,) = list(store.runs())
        settings_json, created = store._db.execute(
            "SELECT settings, created_at FROM runs"
        ).fetchone()
    assert rec == _full_record(
        key, features={"adv_std": 0.5, "pass_rate": 0.25, "entropy_mean": None}
    )
    assert rec.reward_lift is None and rec.lift == 0.25
    assert settings_json == '{"lr": 1e-05, "steps": 4}'  # sorted keys: one settings, one text
    assert created == "2026-01-02T03:04:05+00:00"


def test_a_run_without_a_time_stamp_gets_the_current_utc_time(tmp_path):
    from datetime import UTC, datetime

    with CalibrationStore(tmp_path / "s.sqlite") as store:
        store.add_run(_full_record(RunKey("ck", 7, "sh", "mf", "ph"), created_at="", timings={}))
        (rec,) = list(store.runs())
    stamp = datetime.fromisoformat(rec.created_at)
    assert stamp.tzinfo is not None and abs((datetime.now(UTC) - stamp).total_seconds()) < 120
    assert rec.timings == {}


def test_an_infinite_feature_is_refused_not_stored_as_bad_json(tmp_path):
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(ValueError):
            store.add_run(
                _full_record(RunKey("ck", 7, "sh", "mf", "ph"), features={"a": float("inf")})
            )
        assert store.count_runs() == 0


def test_claims_list_key_owner_host_and_pid(tmp_path):
    from datalint.calibrate.store import ClaimOwner

    owner = ClaimOwner("own-1", "host-a", 4242)
    keys = [RunKey("b", 2, "s", "m", "p"), RunKey("a", 1, "s", "m", "p")]
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        for key in keys:
            assert store.claim(key, owner)
        assert store.claims() == [
            (keys[1], "own-1", "host-a", 4242),
            (keys[0], "own-1", "host-a", 4242),
        ]
        store.release_claims(ClaimOwner("someone-else", "host-a", 1))
        assert len(store.claims()) == 2
        store.release_claims(owner)
        assert store.claims() == []


def test_this_process_owns_its_claims_under_a_fresh_id():
    import socket

    from datalint.calibrate.store import ClaimOwner

    a, b = ClaimOwner.this_process(), ClaimOwner.this_process()
    assert (a.host, a.pid) == (socket.gethostname(), os.getpid())
    assert len(a.id) == 32 and int(a.id, 16) >= 0 and a.id != b.id


def test_pid_alive(monkeypatch):
    from datalint.calibrate import store as store_module

    assert store_module._pid_alive(os.getpid())
    for error, alive in ((ProcessLookupError, False), (PermissionError, True), (OSError, True)):

        def kill(pid, sig, error=error):
            raise error

        monkeypatch.setattr(store_module.os, "kill", kill)
        assert store_module._pid_alive(12345) is alive, error


def test_content_hash_follows_keys_and_labels_not_insertion_order(tmp_path):
    from datalint.calibrate.hashing import stable_hash

    a, b = RunKey("a", 1, "s", "m", "p"), RunKey("b", 1, "s", "m", "p")
    with (
        CalibrationStore(tmp_path / "1.sqlite") as one,
        CalibrationStore(tmp_path / "2.sqlite") as two,
    ):
        empty = one.content_hash()
        assert empty == stable_hash([])
        one.add_run(_full_record(a))
        one.add_run(_full_record(b))
        two.add_run(_full_record(b))
        two.add_run(_full_record(a))
        assert one.content_hash() == two.content_hash() != empty
        row = [
            "a",
            1,
            "s",
            "m",
            "p",
            '{"adv_std": 0.5, "pass_rate": 0.25, "entropy_mean": null}',
            0.25,
            None,
        ]
        assert one.content_hash() == stable_hash([row, ["b", *row[1:]]])
        both = two.content_hash()
    with CalibrationStore(tmp_path / "3.sqlite") as three:
        three.add_run(_full_record(a))
        three.add_run(_full_record(b, nll_after=1.5))
        assert three.content_hash() != both


def test_record_as_dict_adds_the_labels():
    from datalint.calibrate.store import record_as_dict

    d = record_as_dict(_full_record(RunKey("a", 1, "s", "m", "p"), pgold_before=0.25))
    assert (d["lift"], d["reward_lift"]) == (0.25, 0.25)
    assert d["key"] == {
        "cohort_key": "a",
        "seed": 1,
        "settings_hash": "s",
        "model_fingerprint": "m",
        "probe_hash": "p",
    }
    assert d["cohort_id"] == "c9" and d["item_pass_rates"] == [0.0, 0.5, 1.0]


def test_baselines_round_trip_and_are_replaced(tmp_path):
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        assert store.baseline("m", "p") is None
        store.set_baseline("m", "p", 2.5, None)
        assert store.baseline("m", "p") == (2.5, None)
        store.set_baseline("m", "p", 2.25, 0.5)
        assert store.baseline("m", "p") == (2.25, 0.5)
        assert store.baseline("m", "other") is None


def test_the_store_folder_is_created_and_a_foreign_schema_version_refused(tmp_path):
    deep = tmp_path / "a" / "b" / "s.sqlite"
    with CalibrationStore(deep) as store:
        assert store.count_runs() == 0
        assert store._db.execute("SELECT value FROM meta").fetchall() == [("1",)]
        store._db.execute("UPDATE meta SET value='2'")
        store._db.commit()
    with pytest.raises(StoreError) as err:
        CalibrationStore(deep)
    assert str(err.value) == f"{deep}: store schema version 2, this datalint reads 1"
    with CalibrationStore(tmp_path / "here.sqlite") as store:  # an existing folder is fine
        assert store.path == tmp_path / "here.sqlite"
