"""Subprocess for the SQLite open-race test: waits for a shared start time, then opens a store.

Usage: python sqlite_open_worker.py KIND PATH START_AT
KIND is ``cache`` (the rollout cache, PATH a folder) or ``store`` (the calibration store, PATH a
file). Prints "cached" / "stored" when the open worked and a row was written, else the error.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    kind, path, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if kind == "cache":
        from datalint.rollout.cache import RolloutCache
    else:
        from datalint.calibrate.store import CalibrationStore
    while time.time() < start_at:
        time.sleep(0.0005)
    if kind == "cache":
        with RolloutCache(path) as cache:
            cache.put_hash(f"p{start_at}-{id(cache)}", 1, 1, "x")
        print("cached", flush=True)
    else:
        with CalibrationStore(path) as store:
            store.set_baseline(f"m{time.time_ns()}", "p", 1.0, None)
        print("stored", flush=True)


if __name__ == "__main__":
    main()
