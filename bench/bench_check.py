"""`datalint check` end to end against bare generation of the same rollouts, in one run.

    nice -n 10 .venv/bin/python bench/bench_check.py                       # examples/vendor.jsonl
    .venv/bin/python bench/bench_check.py DATA.jsonl --model DIR --rounds 3

Both sides start from nothing in the same process and load the model once: the baseline is
"load the backend, sample the rollouts" (the backend alone, the same prompts, seeds and chunks as
the rollout stage); the check is `run_check` with the cache off and no probe (static checks,
rollouts, grading, features, prediction, rules, JSON report). Rounds are interleaved and the best
of each is kept, since this machine is shared. Target (issue 3): check <= 1.10x bare generation.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_rollouts import time_bare_generation  # noqa: E402

from datalint.cohorts import make_cohorts  # noqa: E402
from datalint.engine import Gate  # noqa: E402
from datalint.load import discover_files, iter_items  # noqa: E402
from datalint.pipeline import CheckOptions, run_check  # noqa: E402
from datalint.report import get_renderer  # noqa: E402
from datalint.rollout.backends import make_backend  # noqa: E402
from datalint.rollout.base import SamplingParams  # noqa: E402
from datalint.rulebook import load_rules  # noqa: E402


def bare(items, model: str | None, params: SamplingParams) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    backend = make_backend("transformers", model)
    time_bare_generation(items, backend, params)
    return time.perf_counter() - start


def check(path: str, model: str | None, params: SamplingParams) -> float:
    rules = tuple(r for r in load_rules() if r.default)
    opts = CheckOptions(
        paths=[path],
        model=model,
        rollouts_per_item=params.n,
        max_new_tokens=params.max_new_tokens,
        seed=params.seed,
        use_cache=False,
    )
    start = time.perf_counter()
    report = run_check(opts, rules, notify=lambda _m: None)
    get_renderer("json")(report, {r.code: r for r in rules}, io.StringIO())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(ROOT / "examples" / "vendor.jsonl"))
    parser.add_argument("--model", help="local HF model dir [default: the shipped tiny policy]")
    parser.add_argument("--rollouts-per-item", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    params = SamplingParams(n=args.rollouts_per_item, max_new_tokens=args.max_new_tokens, seed=0)
    items = list(iter_items(discover_files([args.data]), Gate(())))
    ordered = [it for c in make_cohorts(items) for it in c.items]  # the order check samples in
    n_rollouts = len(ordered) * params.n
    print(f"data={args.data} items={len(ordered)} rollouts={n_rollouts} {params.key()}")
    bare_s, check_s = [], []
    for _ in range(args.rounds):
        bare_s.append(bare(ordered, args.model, params))
        check_s.append(check(args.data, args.model, params))
    b, c = min(bare_s), min(check_s)
    print(f"bare generation (load + sample)  {b:7.2f} s  {n_rollouts / b:8.0f} rollouts/s")
    print(f"datalint check, end to end       {c:7.2f} s  {n_rollouts / c:8.0f} rollouts/s")
    verdict = "ok" if c / b <= 1.10 else "MISSED"
    print(f"check / bare = {c / b:.3f}x  (target <= 1.10x: {verdict})")


if __name__ == "__main__":
    main()
