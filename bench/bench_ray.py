"""Ray executor throughput: ``calibrate --executor ray`` with 2 workers against 1 worker, and
the same store contents as the process-pool executor, all in one run on the same data.

Real GRPO runs of the shipped tiny policy on the first cohorts of examples/vendor.jsonl (the
feature rollouts come from a cache warmed by the first command, so every timed command does the
same work besides the runs). The GRPO phase is each command's wall time less that of a rerun
with every run already stored (which loads and measures everything but trains nothing)::

    .venv/bin/python bench/bench_ray.py [N_COHORTS] [SEEDS]
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def calibrate(data: Path, store: Path, cache: Path, seeds: int, extra: list[str]) -> float:
    cmd = [
        sys.executable,
        "-m",
        "datalint",
        "calibrate",
        str(data),
        "--probe",
        str(ROOT / "examples" / "probe.jsonl"),
        "--store",
        str(store),
        "--seeds",
        str(seeds),
        "--cache-dir",
        str(cache),
        *extra,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return seconds


def contents(store: Path) -> list[tuple]:
    """Every run's key and labels (what ``content_hash`` covers), in key order."""
    with sqlite3.connect(store) as db:
        return db.execute(
            "SELECT cohort_key, seed, settings_hash, model_fingerprint, probe_hash, features, "
            "lift, reward_lift FROM runs ORDER BY 1, 2, 3, 4, 5"
        ).fetchall()


def steady_runs_per_s(store: Path) -> float | None:
    """Runs per second between the first and the last run the driver stored: the executor's
    throughput once its workers are up (the cluster's and the workers' start are left out)."""
    with sqlite3.connect(store) as db:
        stamps = sorted(
            datetime.fromisoformat(row[0]).timestamp()
            for row in db.execute("SELECT created_at FROM runs")
        )
    if len(stamps) < 3 or stamps[-1] <= stamps[0]:
        return None
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def mean_run_seconds(store: Path) -> float:
    """Mean seconds inside one run (the job's own clock): the compute, without dispatch."""
    with sqlite3.connect(store) as db:
        return float(db.execute("SELECT avg(total_s) FROM runs").fetchone()[0])


def main() -> int:
    n_cohorts = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    lines = (ROOT / "examples" / "vendor.jsonl").read_text(encoding="utf-8").splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        data = t / "data.jsonl"
        data.write_text("\n".join(lines[: 4 * n_cohorts]) + "\n", encoding="utf-8")
        cache = t / "cache"
        walls = {
            "process_2": calibrate(data, t / "pool.sqlite", cache, seeds, ["--workers", "2"]),
            "ray_1": calibrate(
                data, t / "ray1.sqlite", cache, seeds, ["--executor", "ray", "--workers", "1"]
            ),
            "ray_2": calibrate(
                data, t / "ray2.sqlite", cache, seeds, ["--executor", "ray", "--workers", "2"]
            ),
        }
        noop = calibrate(data, t / "ray2.sqlite", cache, seeds, ["--executor", "ray"])
        phase = {k: max(v - noop, 1e-9) for k, v in walls.items()}
        pool, ray1, ray2 = (contents(t / f"{n}.sqlite") for n in ("pool", "ray1", "ray2"))
        runs = len(pool)  # a cohort too small to train is skipped, so count what was stored
        steady = {
            k: steady_runs_per_s(t / f"{n}.sqlite")
            for k, n in (("process_2", "pool"), ("ray_1", "ray1"), ("ray_2", "ray2"))
        }
        result = {
            "grpo_runs": runs,
            "wall_s": {k: round(v, 1) for k, v in walls.items()},
            "rerun_with_all_stored_s": round(noop, 1),
            "grpo_phase_s": {k: round(v, 1) for k, v in phase.items()},
            "runs_per_s": {k: round(runs / v, 3) for k, v in phase.items()},
            "ray_2_over_1_workers": round(phase["ray_1"] / phase["ray_2"], 2),
            "steady_runs_per_s": {k: v and round(v, 3) for k, v in steady.items()},
            "ray_2_over_1_workers_steady": (
                round(steady["ray_2"] / steady["ray_1"], 2)
                if steady["ray_1"] and steady["ray_2"]
                else None
            ),
            "mean_seconds_inside_a_run": {
                k: round(mean_run_seconds(t / f"{n}.sqlite"), 3)
                for k, n in (("process_2", "pool"), ("ray_1", "ray1"), ("ray_2", "ray2"))
            },
            "ray_2_over_1_workers_whole_command": round(walls["ray_1"] / walls["ray_2"], 2),
            "ray_2_over_process_2": round(phase["process_2"] / phase["ray_2"], 2),
            "stores_hold_runs": [len(pool), len(ray1), len(ray2)],
            "same_contents_as_process_pool": pool == ray1 == ray2 and len(pool) == runs,
            "cpus": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 1),
        }
    print(json.dumps(result, indent=1))
    return 0 if result["same_contents_as_process_pool"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
