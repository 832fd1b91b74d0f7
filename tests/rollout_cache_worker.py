"""Subprocess for the cache tests: samples items start..stop into a cache with the fake backend.

Usage: python rollout_cache_worker.py CACHE_DIR START STOP DELAY_S_PER_ITEM
Prints "done N" with N the number of items it had to sample.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from fake_backend import FakeBackend  # noqa: E402

from datalint.load.records import Item, Source  # noqa: E402
from datalint.rollout.base import SamplingParams  # noqa: E402
from datalint.rollout.stage import obtain_rollouts  # noqa: E402


def main() -> None:
    cache_dir, start, stop, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    items = [
        Item(source=Source("d", i), answer="0", prompt=f"{i}*{i}=") for i in range(start, stop)
    ]
    backend = FakeBackend(delay_s=float(delay), chunk_rows=3)  # n=3: one item per chunk
    obtain_rollouts(
        items,
        backend_name="fake",
        model=None,
        params=SamplingParams(n=3, max_new_tokens=8, seed=7),
        rollouts_file=None,
        cache_dir=cache_dir,
        use_cache=True,
        progress=False,
        backend=backend,
    )
    print("done", len(backend.sampled_prompts), flush=True)


if __name__ == "__main__":
    main()
