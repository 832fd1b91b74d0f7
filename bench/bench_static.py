"""Speed and memory of the static stage on synthetic data, through the real CLI.

    nice -n 10 .venv/bin/python bench/bench_static.py                # 1M items + 100k near-dup
    .venv/bin/python bench/bench_static.py --items 100000 --near-items 20000   # a quick look
    .venv/bin/python bench/bench_static.py --profile                 # + cProfile of the 1M run

Each measurement is its own process, timed on the wall clock; its peak RSS comes from
``os.wait4`` (the rusage of exactly that child). The baseline is a bare ``json.loads`` loop over
the same file, so the ratio says what the linter costs beyond reading JSON at all. Targets (issue
2): schema + exact duplicates on 1M items at >= 50k items/s in < 1 GiB; near-duplicates on 100k
items in < 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIB = 1024**3

NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kofi"]
THINGS = ["apples", "marbles", "books", "coins", "stamps", "pencils", "shells", "cards", "eggs"]
PLACES = ["market", "school", "library", "garden", "station", "museum", "bakery", "harbour"]
VERBS = ["buys", "finds", "receives", "collects", "wins", "borrows", "orders", "picks up"]
FILLER = [
    *[
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "was",
        "for",
        "on",
        "that",
        "with",
        "as",
        "by",
        "at",
        "from",
        "it",
        "this",
        "be",
        "are",
        "or",
        "which",
    ],
    *[
        "an",
        "not",
        "but",
        "have",
        "has",
        "had",
        "were",
        "been",
        "their",
        "there",
        "they",
        "one",
        "all",
        "would",
        "each",
        "when",
        "we",
    ],
]


def synthetic_prompt(rng: random.Random) -> str:
    """A word problem of 40-90 words with a random tail, so near-duplicates stay rare."""
    a, b, c = rng.randint(2, 999), rng.randint(2, 999), rng.randint(2, 99)
    name, thing, place, verb = (
        rng.choice(NAMES),
        rng.choice(THINGS),
        rng.choice(PLACES),
        rng.choice(VERBS),
    )
    tail = " ".join(rng.choices(FILLER, k=rng.randint(20, 60)))
    return (
        f"{name} has {a} {thing} and {verb} {b} more at the {place}. Later {name} gives away "
        f"{c} of them. Note: {tail}. How many {thing} does {name} have now?"
    )


def write_dataset(path: Path, n: int, seed: int, duplicate_every: int = 50) -> None:
    """JSONL with one exact repeat every ``duplicate_every`` lines (realistic: a few percent)."""
    rng = random.Random(seed)
    recent: list[str] = []
    with path.open("w", encoding="utf-8") as fh:
        for k in range(n):
            if k and k % duplicate_every == 0 and recent:
                prompt = rng.choice(recent)
            else:
                prompt = synthetic_prompt(rng)
                if len(recent) < 1000:
                    recent.append(prompt)
                else:
                    recent[rng.randrange(1000)] = prompt
            record = {
                "id": f"p{k}",
                "prompt": prompt,
                "answer": str(rng.randint(0, 2000)),
                "subject": "arithmetic",
            }
            fh.write(json.dumps(record) + "\n")


@dataclass
class Measured:
    label: str
    items: int
    seconds: float
    cpu_seconds: float
    peak_rss: int
    returncode: int
    stderr: str

    @property
    def rate(self) -> float:
        """Items per second of CPU time: what one core does, whatever else shares the machine."""
        return self.items / self.cpu_seconds if self.cpu_seconds else float("inf")

    @property
    def wall_rate(self) -> float:
        return self.items / self.seconds if self.seconds else float("inf")


def measure(label: str, items: int, argv: list[str]) -> Measured:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(label, items, seconds, cpu, usage.ru_maxrss * 1024, proc.returncode, stderr)


def baseline_argv(path: Path) -> list[str]:
    code = (
        "import json,sys\n"
        "n=0\n"
        "with open(sys.argv[1],'rb') as fh:\n"
        "    for line in fh:\n"
        "        json.loads(line); n+=1\n"
    )
    return [sys.executable, "-c", code, str(path)]


def check_argv(path: Path, select: str, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "datalint",
        "check",
        str(path),
        "--static-only",
        "--select",
        select,
        "--format",
        "json",
        "-o",
        str(out),
        "--exit-zero",
        "-q",
    ]


def profile_argv(path: Path, select: str, out: Path, stats_file: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cProfile",
        "-o",
        str(stats_file),
        *check_argv(path, select, out)[1:],
    ]


def print_table(rows: list[tuple[Measured, str, bool | None]], baseline: Measured) -> None:
    head = (
        f"{'run':46} {'items':>9} {'wall s':>7} {'cpu s':>7} {'items/cpu-s':>11} "
        f"{'items/wall-s':>12} {'vs json':>8} {'peak RSS':>9}"
    )
    print(head + "  target")
    print("-" * (len(head) + 30))
    for m, target, ok in rows:
        ratio = baseline.rate / m.rate if m.rate else float("inf")
        verdict = "" if ok is None else ("  ok" if ok else "  MISSED")
        print(
            f"{m.label:46} {m.items:>9,} {m.seconds:>7.1f} {m.cpu_seconds:>7.1f} {m.rate:>11,.0f} "
            f"{m.wall_rate:>12,.0f} {ratio:>7.1f}x {m.peak_rss / 2**20:>7.0f}MB  {target}{verdict}"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(load average {load} on {os.cpu_count()} CPUs; targets are judged on CPU time)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--near-items", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="cProfile the schema+D001 run")
    parser.add_argument("--keep", type=Path, help="write data here and keep it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="datalint-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        big, small = folder / "big.jsonl", folder / "near.jsonl"
        t = time.perf_counter()
        write_dataset(big, args.items, seed=1)
        write_dataset(small, args.near_items, seed=2)
        print(
            f"generated {args.items:,} + {args.near_items:,} items "
            f"({big.stat().st_size / 2**20:.0f} MB + {small.stat().st_size / 2**20:.0f} MB) "
            f"in {time.perf_counter() - t:.0f} s",
            file=sys.stderr,
        )
        out = folder / "report.json"
        base = measure("baseline: bare json.loads loop", args.items, baseline_argv(big))
        core = measure(
            "check --select S,D001 (schema + exact dups)",
            args.items,
            check_argv(big, "S,D001", out),
        )
        core_findings = len(json.loads(out.read_text())["findings"]) if out.exists() else -1
        allstatic = measure(
            "check --static-only (all default static rules)",
            args.items,
            check_argv(big, "S,D", out),
        )
        near = measure(
            "check --select D002 (near-duplicates)",
            args.near_items,
            check_argv(small, "D002", out),
        )
        near_findings = len(json.loads(out.read_text())["findings"]) if out.exists() else -1
        rows: list[tuple[Measured, str, bool | None]] = [
            (base, "", None),
            (
                core,
                ">= 50k items/s, < 1 GiB",
                core.rate >= 50_000 and core.peak_rss < GIB,
            ),
            (allstatic, "(informative)", None),
            (near, "< 60 s", near.cpu_seconds < 60),
        ]
        print_table(rows, base)
        print(f"\nfindings: {core_findings:,} in the schema+D001 run, {near_findings:,} near-dups")
        for m, _, _ in rows:
            if m.returncode != 0:
                print(f"\n{m.label} exited {m.returncode}:\n{m.stderr[-2000:]}", file=sys.stderr)
        if args.profile:
            stats_file = folder / "check.prof"
            subprocess.run(
                profile_argv(big, "S,D001", out, stats_file),
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL,
                check=False,
            )
            import pstats

            print("\ncProfile of the schema + exact-duplicates run (top 20 by own time):")
            pstats.Stats(str(stats_file)).sort_stats("tottime").print_stats(20)
        return 0 if all(ok is not False for _, _, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
