"""Start-up time of the CLI: `datalint --help` and `datalint rules` against a bare interpreter.

Target (issue 2): both under 0.5 s. Heavy imports (torch, onnxruntime, rich) must stay out of them.
Run: python bench/bench_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "datalint --help": [sys.executable, "-m", "datalint", "--help"],
    "datalint rules": [sys.executable, "-m", "datalint", "rules"],
    "datalint rules --format json": [sys.executable, "-m", "datalint", "rules", "--format", "json"],
}


def time_once(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    results: dict[str, float] = {}
    for _ in range(2):  # warm the OS file cache
        for cmd in COMMANDS.values():
            time_once(cmd)
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):  # interleaved, so machine noise hits every command alike
        for name, cmd in COMMANDS.items():
            samples[name].append(time_once(cmd))
    results = {name: statistics.median(s) for name, s in samples.items()}
    base = results["python -c pass (baseline)"]
    print(f"{'command':<32} {'median s':>9} {'x baseline':>11}  target")
    for name, t in results.items():
        target = "" if "baseline" in name else ("< 0.5 s  ok" if t < 0.5 else "< 0.5 s  MISSED")
        print(f"{name:<32} {t:>9.3f} {t / base:>11.1f}  {target}")


if __name__ == "__main__":
    main()
