"""A fake GRPO job for the store's kill-and-resume and concurrency tests: sleeps instead of
training, and goes through the same planning and claiming as ``calibrate``.

Run as a script: ``python tests/calibrate_fakes.py STORE LOG N_JOBS [WORKERS]`` measures every
job not yet in STORE (and not claimed by another live process) with WORKERS spawned workers
(default 2), appending each executed job's ``cohort_key:seed`` to LOG.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datalint.calibrate.jobs import GRPOOutcome
from datalint.calibrate.run import execute_claimed, pending_runs
from datalint.calibrate.store import CalibrationStore, RunKey, RunRecord


def fake_job(args: tuple[RunKey, str]) -> GRPOOutcome:
    key, log = args
    time.sleep(0.3)
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"{key.cohort_key}:{key.seed}\n")
    return GRPOOutcome(
        key, nll_after=1.0 - key.seed / 100, pgold_after=0.5, timings={}, mean_train_reward=None
    )


def killable_job(args: tuple[RunKey, str, str, str]) -> GRPOOutcome:
    """``fake_job`` that announces its worker's pid in ``pid_dir``; the first attempt at the
    ``victim`` run then hangs (until a test kills its worker), a second attempt finishes."""
    key, log, pid_dir, victim = args
    name = f"{key.cohort_key}-{key.seed}"
    attempt = len(list(Path(pid_dir).glob(f"{name}.*.pid"))) + 1
    Path(pid_dir, f"{name}.{attempt}.pid").write_text(str(os.getpid()), encoding="utf-8")
    if name == victim and attempt == 1:
        time.sleep(120)
    return fake_job((key, log))


def dying_job(args: tuple[RunKey, str]) -> GRPOOutcome:
    """A run whose worker process dies on every attempt."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def failing_job(args: tuple[RunKey, str]) -> GRPOOutcome:
    """``fake_job``, except that run c00 seed 1 raises (after c00 seed 0 has finished)."""
    key, _ = args
    if key.cohort_key == "c00" and key.seed == 1:
        time.sleep(1.5)
        raise ValueError("verifier exploded")
    return fake_job(args)


def fake_keys(n_jobs: int) -> list[RunKey]:
    return [RunKey(f"c{i:02d}", seed, "s", "m", "p") for i in range(n_jobs // 2) for seed in (0, 1)]


def fake_record(outcome: GRPOOutcome) -> RunRecord:
    return RunRecord(
        key=outcome.key,
        cohort_id=outcome.key.cohort_key,
        subject="add",
        data_hash="d",
        n_items=4,
        features={},
        item_pass_rates=[],
        nll_before=1.0,
        nll_after=outcome.nll_after,
        pgold_before=0.5,
        pgold_after=outcome.pgold_after,
        settings={},
    )


class FakeJob(tuple):
    """(key, log) with the ``key`` attribute that claiming reads."""

    @property
    def key(self) -> RunKey:
        return self[0]


def main(store_path: str, log: str, n_jobs: int, workers: int = 2) -> None:
    keys = fake_keys(n_jobs)
    with CalibrationStore(store_path) as store:
        pending, _, _ = pending_runs(store, keys)
        todo = [FakeJob((k, log)) for k in pending]

        def commit(outcome: GRPOOutcome) -> None:
            store.add_run(fake_record(outcome))

        done = execute_claimed(store, todo, fake_job, commit, workers=workers)
    print("done", done, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), *(int(a) for a in sys.argv[4:5]))
