"""The 1%-edit path with the model loaded: batched cache reads against one SELECT per key.

One process, one loaded backend, one warm cache of ITEMS items; then, alternating for --rounds
rounds, the rollout stage on a copy with 1% of the items edited, once with today's
``RolloutCache.get_many`` (500 keys per SELECT) and once with the per-key SELECT it replaced.
Each edited run is also divided by a cold run of the same backend (model loaded, empty cache)::

    .venv/bin/python bench/bench_cache_reads.py [--items 500] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_rollouts import edit_fraction, synthetic_items, time_stage, warm_up  # noqa: E402

from datalint.rollout import cache as cache_module  # noqa: E402
from datalint.rollout.backends import make_backend  # noqa: E402
from datalint.rollout.base import SamplingParams, prompt_hash  # noqa: E402


def per_key_get_many(self, model, params, keys):  # type: ignore[no-untyped-def]
    """The get_many before batching: one SELECT per key."""
    found = {}
    for prompt, seed in keys:
        row = self._conn.execute(
            "SELECT rollouts FROM rollouts"
            " WHERE model = ? AND params = ? AND prompt_sha256 = ? AND seed = ?",
            (model, params, prompt_hash(prompt), seed),
        ).fetchone()
        if row is not None and (rollouts := cache_module._decode(row[0])) is not None:
            found[(prompt, seed)] = rollouts
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    params = SamplingParams(n=8, temperature=1.0, max_new_tokens=16, seed=0)
    items = synthetic_items(args.items)
    backend = make_backend("transformers", None)
    warm_up(backend, params)
    cache_dir = tempfile.mkdtemp(prefix="datalint-bench-")
    cold = time_stage(items, backend, params, cache_dir)[0].seconds
    batched_get_many = cache_module.RolloutCache.get_many
    times: dict[str, list[float]] = {"batched": [], "per_key": []}
    for round_ in range(args.rounds):
        for name, impl in (("batched", batched_get_many), ("per_key", per_key_get_many)):
            cache_module.RolloutCache.get_many = impl  # type: ignore[method-assign]
            suffix = " " * (2 * round_ + (1 if name == "batched" else 2))
            edited = edit_fraction(items, 0.01, suffix=suffix)
            times[name].append(time_stage(edited, backend, params, cache_dir)[0].seconds)
    cache_module.RolloutCache.get_many = batched_get_many  # type: ignore[method-assign]
    print(
        f"items={args.items} cold run (model loaded) {cold:.2f} s;"
        f" load avg {os.getloadavg()[0]:.1f}"
    )
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        print(f"1% edit, {name:8s} best {best:.3f} s = {best / cold:.2%} of cold;"
              f" median {median:.3f} s = {median / cold:.2%}")  # fmt: skip
    ratio = min(times["per_key"]) / min(times["batched"])
    print(f"batched reads: the edit run is {ratio:.2f}x faster (best of {args.rounds})")


if __name__ == "__main__":
    main()
