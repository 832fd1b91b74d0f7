"""What the gradient signals cost: `datalint check` with and without `--gradient-signals`, cold.

    .venv/bin/python bench/bench_grad_align.py [--world world0-arith-char-gpt2] [--items 200]

Both runs are the real CLI as a subprocess on the same items (the first ``--items`` of the
world's calibration cohorts), the world's probe and policy, no rollout cache (so both sample
every rollout), the shipped predictor; the rounds alternate and the best wall time of each side
is kept. Prints both times and their ratio: the extra share of a check that the signals cost
(one backward pass over each cohort's rollouts, and one over the probe).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str]) -> float:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    env.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "datalint", *args], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"check exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="world0-arith-char-gpt2")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    world_dir = ROOT / "worlds" / args.world
    world = json.loads((world_dir / "world.json").read_text())
    lines = (world_dir / "cohorts.jsonl").read_text().splitlines()[: args.items]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "items.jsonl"
        data.write_text("\n".join(lines) + "\n")
        base = [
            "check", str(data), "--probe", str(world_dir / "probe.jsonl"),
            "--model", str(ROOT / world["policy"]), "--no-cache", "--format", "json",
        ]  # fmt: skip
        plain, signals = [], []
        for _ in range(args.rounds):
            plain.append(run([*base, "--no-gradient-signals"]))
            signals.append(run([*base, "--gradient-signals"]))
    a, b = min(plain), min(signals)
    print(
        f"{args.world}: {len(lines)} items, {len(lines) // 4} cohorts, best of {args.rounds}: "
        f"check {a:.1f} s, with gradient signals {b:.1f} s, ratio {b / a:.2f}x "
        f"(signals add {100 * (b - a) / a:.0f}% of a cold check)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
