"""Compare one arm of a loop experiment with the arms of another experiment on the same draws.

    python bench/loop_compare_arms.py STORE --arm-of LOOP_HASH --against LOOP_HASH

A loop's hash covers its prior, so rerunning only the learned arm with a new prior (``datalint
loop ... --arms learned --prior P``) starts a new experiment in the store. The random, p1p and
oracle arms never read the prior: with the same pool, probe, base model, settings and seeds they
make the very same rounds, so the new learned arm is compared with them seed by seed (same
candidate draws, same GRPO seeds). Prints each arm's probe NLL after the last round and the
paired advantage (other arm's NLL minus this arm's) with the loop report's percentile bootstrap
over seeds (10000 resamples, numpy rng 0).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datalint.loop.report import bootstrap_interval


def finals(db: sqlite3.Connection, loop_hash: str, arm: str, last: int) -> dict[int, float]:
    rows = db.execute(
        "SELECT loop_seed, nll_after FROM loop_rounds "
        "WHERE loop_hash = ? AND arm = ? AND round = ?",
        (loop_hash, arm, last),
    )
    return dict(rows.fetchall())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--arm-of", required=True, help="loop hash of the arm to judge")
    parser.add_argument("--arm", default="learned")
    parser.add_argument("--against", required=True, help="loop hash of the other arms")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    db = sqlite3.connect(f"file:{args.store}?mode=ro", uri=True)
    last = args.rounds - 1
    mine = finals(db, args.arm_of, args.arm, last)
    others = {a: finals(db, args.against, a, last) for a in ("learned", "random", "p1p", "oracle")}
    fixed = ("random", "p1p", "oracle")  # the arms that never read the prior
    seeds = sorted(set(mine).intersection(*(set(others[a]) for a in fixed if others[a])))
    print(f"{len(seeds)} seeds with {args.arm} and every fixed arm after round {last}: {seeds}")
    print(f"  {args.arm} ({args.arm_of}): probe NLL {np.mean([mine[s] for s in seeds]):.4f}")
    for arm, values in others.items():
        common = [s for s in seeds if s in values]
        if common:
            mean = np.mean([values[s] for s in common])
            print(f"  {arm} ({args.against}): probe NLL {mean:.4f} over {len(common)} seeds")
    for arm in ("random", "p1p", "oracle", "learned"):
        common = [s for s in seeds if s in others[arm]]
        if not common:
            continue
        diff = np.array([others[arm][s] - mine[s] for s in common])
        lo, hi = bootstrap_interval(diff)
        verdict = "excludes 0" if lo > 0 or hi < 0 else "does NOT exclude 0"
        print(
            f"{args.arm} vs {arm}: advantage {diff.mean():+.4f} nats [{lo:+.4f}, {hi:+.4f}] "
            f"({verdict}; better on {(diff > 0).sum()}/{len(diff)} seeds)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
