"""Cost of measuring a cohort's lift (calibrate, per seed) against predicting it (check).

Reads the per-run timings and peak memory that ``calibrate`` stored, then runs ``datalint check``
as a subprocess on one cohort of the same data (tiny policy, same feature settings) and takes its
wall time and peak RSS (wait4). Their ratio is how much cheaper prediction is than measurement::

    .venv/bin/python bench/calibrate_cost.py build/predictor/store.sqlite \
        build/predictor/cohorts.jsonl
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def check_cost(data: Path, n_items: int, extra: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of `datalint check` on the first ``n_items`` lines."""
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "cohort.jsonl"
        lines = data.read_text(encoding="utf-8").splitlines()[:n_items]
        one.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cmd = [sys.executable, "-m", "datalint", "check", str(one), "--format", "json",
               "--exit-zero", "--cache-dir", str(Path(tmp) / "cache"), *extra]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        if status != 0:
            raise SystemExit(f"check failed with status {status}: {' '.join(cmd)}")
        return seconds, usage.ru_maxrss / 1024


def main() -> int:
    store, data = Path(sys.argv[1]), Path(sys.argv[2])
    rows = (
        sqlite3.connect(store)
        .execute("SELECT n_items, setup_s, train_s, probe_s, total_s, peak_rss_mb FROM runs")
        .fetchall()
    )
    n_items = rows[0][0]
    per_run = {
        "runs": len(rows),
        "setup_s": statistics.median(r[1] for r in rows),
        "train_s": statistics.median(r[2] for r in rows),
        "probe_s": statistics.median(r[3] for r in rows),
        "total_s": statistics.median(r[4] for r in rows),
        "peak_rss_mb": max(r[5] for r in rows),
    }
    check_s, check_rss = check_cost(data, n_items, sys.argv[3:])
    n_lines = len(data.read_text(encoding="utf-8").splitlines())
    all_s, all_rss = check_cost(data, n_lines, sys.argv[3:])
    n_cohorts = n_lines // n_items
    marginal = (all_s - check_s) / max(1, n_cohorts - 1)
    result = {
        "calibrate_per_cohort_per_seed (median, worker process warm)": per_run,
        "setup_share_of_run": per_run["setup_s"] / per_run["total_s"],
        "check_one_cohort_cold_process": {"seconds": check_s, "peak_rss_mb": check_rss},
        f"check_all_{n_cohorts}_cohorts": {"seconds": all_s, "peak_rss_mb": all_rss},
        "check_marginal_seconds_per_cohort": marginal,
        "measure_over_predict_seconds (cold check process)": per_run["total_s"] / check_s,
        "measure_over_predict_seconds (marginal per cohort)": per_run["total_s"] / marginal,
        "note": "check's time is mostly interpreter + torch start-up; calibrate's per-run "
        "figure excludes the worker's one-off start-up and includes the probe NLL after GRPO",
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
