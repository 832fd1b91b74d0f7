"""What the gradient signals cost: `datalint check` with and without `--gradient-signals`, cold.

    .venv/bin/python bench/bench_grad_align.py [--world world0-arith-char-gpt2] [--items 200]

Both runs are the real CLI as a subprocess on the same items (the first ``--items`` of the
world's calibration cohorts), the world's probe and policy, no rollout cache (so both sample
every rollout), the shipped predictor; the rounds alternate and the best wall time of each side
is kept. Prints both times and their ratio: the extra share of a check that the signals cost
(one backward pass over each cohort's rollouts, and one over the probe). Then, in this process,
the two stages alone on the same items (CPU time, so the machine's other load counts less):
sampling + grading + the 23 features (``measure_cohorts``, cold) against the gradients
(``measure_alignments``).
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


def in_process(world_dir: Path, world: dict, lines: list[str]) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from datalint.calibrate.run import load_items
    from datalint.engine import Gate
    from datalint.measure import measure_cohorts
    from datalint.rollout.base import SamplingParams
    from datalint.signals.grad_align import load_policy, measure_alignments

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "items.jsonl"
        data.write_text("\n".join(lines) + "\n")
        items = load_items([str(data)])
        probe = load_items([str(world_dir / "probe.jsonl")])
        policy = str(ROOT / world["policy"])
        load_policy(policy)  # both sides load their model before the clock starts
        t0 = time.process_time()
        measured = measure_cohorts(
            items,
            cohort_size=4,
            params=SamplingParams(n=8, temperature=1.0, max_new_tokens=256, seed=0),
            backend="transformers",
            model=policy,
            rollouts_file=None,
            cache_dir=None,
            use_cache=False,
            progress=False,
            probe_items=probe,
            default_verifier="exact",
            gate=Gate(()),
        )
        t1 = time.process_time()
        measure_alignments(policy, measured.cohorts, measured.rollouts, probe)
        t2 = time.process_time()
    return {"sampling": t1 - t0, "gradients": t2 - t1}


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
    stages = in_process(world_dir, world, lines)
    ratio = stages["gradients"] / stages["sampling"]
    print(
        f"in process: sampling + grading + features {stages['sampling']:.1f} CPU s, gradient "
        f"signals {stages['gradients']:.1f} CPU s, ratio {ratio:.2f}"
    )
    print(
        f"{args.world}: {len(lines)} items, {len(lines) // 4} cohorts, best of {args.rounds}: "
        f"check {a:.1f} s, with gradient signals {b:.1f} s, ratio {b / a:.2f}x "
        f"(signals add {100 * (b - a) / a:.0f}% of a cold check)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
