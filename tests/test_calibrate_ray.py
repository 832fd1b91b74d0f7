"""``calibrate --executor ray``: the Ray executor on a local 2-CPU cluster started here, with the
fast fake jobs of ``calibrate_fakes`` (sleeps, not GRPO), a worker killed mid-run included."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from calibrate_fakes import (  # noqa: E402
    FakeJob,
    dying_job,
    failing_job,
    fake_job,
    fake_keys,
    fake_record,
    killable_job,
)

from datalint.calibrate.ray_executor import RayClusterError, RayExecutor  # noqa: E402
from datalint.calibrate.run import execute_claimed  # noqa: E402
from datalint.calibrate.store import CalibrationStore  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module (starting one costs seconds on a loaded machine); the
    workers import ``calibrate_fakes`` from tests/ and datalint from this checkout."""
    root = str(TESTS.parent)
    path = os.pathsep.join([str(TESTS), root, os.environ.get("PYTHONPATH", "")])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}},
    )
    yield
    ray.shutdown()


def _calibrate(store_path: Path, jobs, job_fn, executor, workers: int = 2) -> int:
    with CalibrationStore(store_path) as store:
        return execute_claimed(
            store,
            jobs,
            job_fn,
            lambda outcome: store.add_run(fake_record(outcome)),
            workers=workers,
            executor=executor,
        )


def _stored(store_path: Path) -> list[tuple[str, int, float]]:
    with CalibrationStore(store_path) as store:
        return sorted((r.key.cohort_key, r.key.seed, r.nll_after) for r in store.runs())


def test_ray_stores_every_run_once_with_the_process_pool_contents(cluster, tmp_path):
    log = str(tmp_path / "log")
    jobs = [FakeJob((k, log)) for k in fake_keys(8)]
    assert _calibrate(tmp_path / "ray.sqlite", jobs, fake_job, RayExecutor()) == 8
    assert _calibrate(tmp_path / "pool.sqlite", jobs, fake_job, None, workers=1) == 8
    expected = [(f"c{i:02d}", s, 1.0 - s / 100) for i in range(4) for s in (0, 1)]
    assert _stored(tmp_path / "ray.sqlite") == expected
    with (
        CalibrationStore(tmp_path / "ray.sqlite") as a,
        CalibrationStore(tmp_path / "pool.sqlite") as b,
    ):
        assert a.content_hash() == b.content_hash()
        assert a.claims() == []  # the driver released its claims


def test_a_rerun_on_the_same_store_runs_nothing(cluster, tmp_path):
    log = tmp_path / "log"
    jobs = [FakeJob((k, str(log))) for k in fake_keys(4)]
    assert _calibrate(tmp_path / "s.sqlite", jobs, fake_job, RayExecutor()) == 4
    assert _calibrate(tmp_path / "s.sqlite", jobs, fake_job, RayExecutor()) == 0
    assert len(log.read_text().splitlines()) == 4


def test_a_killed_worker_is_rerun_and_its_run_stored_once(cluster, tmp_path):
    log, pids = tmp_path / "log", tmp_path / "pids"
    pids.mkdir()
    victim = "c01-1"
    jobs = [FakeJob((k, str(log), str(pids), victim)) for k in fake_keys(8)]
    killed: list[int] = []

    def kill_the_victim() -> None:
        first = pids / f"{victim}.1.pid"
        deadline = time.monotonic() + 60
        while not first.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the worker is inside the job now
        pid = int(first.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    watcher = threading.Thread(target=kill_the_victim, daemon=True)
    watcher.start()
    assert _calibrate(tmp_path / "s.sqlite", jobs, killable_job, RayExecutor()) == 8
    watcher.join(5)
    assert killed, "the victim's worker was never seen"
    attempts = sorted(p.name for p in pids.glob(f"{victim}.*.pid"))
    assert attempts == [f"{victim}.1.pid", f"{victim}.2.pid"]
    assert int((pids / f"{victim}.2.pid").read_text()) != killed[0]
    expected = [(f"c{i:02d}", s, 1.0 - s / 100) for i in range(4) for s in (0, 1)]
    assert _stored(tmp_path / "s.sqlite") == expected  # each run exactly once
    # only finished jobs log: the killed attempt never did, its re-run did once
    assert sorted(log.read_text().splitlines()) == sorted(f"{k}:{s}" for k, s, _ in expected)


def test_a_run_lost_on_every_attempt_stops_with_a_clear_error(cluster, tmp_path):
    jobs = [FakeJob((k, str(tmp_path / "log"))) for k in fake_keys(2)[:1]]
    with pytest.raises(RayClusterError, match="lost 2 times"):
        _calibrate(tmp_path / "s.sqlite", jobs, dying_job, RayExecutor(max_attempts=2))
    with CalibrationStore(tmp_path / "s.sqlite") as store:
        assert store.count_runs() == 0
        assert store.claims() == []  # back in the pool for the next calibrate


def test_a_failing_job_raises_its_own_error_in_the_driver(cluster, tmp_path):
    jobs = [FakeJob((k, str(tmp_path / "log"))) for k in fake_keys(2)]
    with pytest.raises(ValueError, match="verifier exploded"):
        _calibrate(tmp_path / "s.sqlite", jobs, failing_job, RayExecutor(), workers=1)
    assert _stored(tmp_path / "s.sqlite") == [("c00", 0, 1.0)]  # the one finished before


def test_a_run_asking_for_more_than_the_cluster_has_is_refused(cluster, tmp_path):
    jobs = [FakeJob((k, str(tmp_path / "log"))) for k in fake_keys(2)]
    refused = "asks for 1 CPU and 1 GPU, but the cluster has 2 CPU"
    with pytest.raises(RayClusterError, match=refused):
        _calibrate(tmp_path / "s.sqlite", jobs, fake_job, RayExecutor(gpus_per_run=1))
    with pytest.raises(RayClusterError, match="asks for 3 CPU"):
        _calibrate(tmp_path / "s.sqlite", jobs, fake_job, RayExecutor(threads_per_run=3))
