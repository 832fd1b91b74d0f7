"""Write the shipped example datasets in ``examples/`` from the tiny world's generator.

- ``vendor.jsonl``: a vendor's RL data in cohorts (the ``cohort`` field) that range from
  "mostly disagree" (frontier levels 2-3) through "already known" (level 1) and "no foothold"
  (the hardest level) to "scrambled answers" (gold answers replaced by the policy's habit
  slips); the held-out subject never appears in it.
- ``probe.jsonl``: the target evaluation set (prompt + gold answer), every subject and level.
- ``heldout.jsonl``: cohorts of the held-out subject only, for the transfer tests.

Deterministic; no model needed. Rebuild::

    .venv/bin/python scripts/build_examples.py --out examples
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from datalint.world import (
    MAX_LEVEL,
    SUBJECTS,
    WorldCohort,
    cohort_records,
    draw_problem,
    make_cohort,
    problem_record,
)

HELD_OUT = "dsum"
VENDOR_MIX = {"frontier": 7, "known": 4, "no_foothold": 4, "scrambled": 3, "mixed": 2}
# the shipped policy has a foothold at every dsum level, so the held-out file has no dead ends
HELDOUT_MIX = {"frontier": 4, "known": 2, "scrambled": 2}
# The shipped policy never masters nor entirely misses ``mod`` (its remainders are small numbers
# that it guesses), so "known" and "no foothold" vendor cohorts come from the other subjects.
CLEAN_EXTREMES = ("add", "sub", "mul")


def cohorts(
    rng: random.Random, mix: dict[str, int], subjects: list[str], prefix: str, taken: set[str]
) -> list[WorldCohort]:
    """Cohorts in the kinds and counts of ``mix``, with no prompt repeated across files."""
    out: list[WorldCohort] = []
    for kind, count in mix.items():
        for _ in range(count):
            pool = subjects
            if kind in ("known", "no_foothold") and set(subjects) & set(CLEAN_EXTREMES):
                pool = [s for s in subjects if s in CLEAN_EXTREMES]
            while True:
                cohort = make_cohort(rng, f"{prefix}{len(out):02d}-{kind}", kind, pool)
                prompts = {p.prompt for p in cohort.problems}
                if len(prompts) == len(cohort.problems) and not prompts & taken:
                    break
            taken |= prompts
            out.append(cohort)
    return out


def write_jsonl(path: Path, records: Iterable[dict[str, object]]) -> int:
    lines = [json.dumps(r, separators=(",", ":")) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="examples")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--probe-per-cell", type=int, default=4)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    taken: set[str] = set()

    probe = []
    for subject in SUBJECTS:
        for level in range(1, MAX_LEVEL + 1):
            for _ in range(args.probe_per_cell):
                problem = draw_problem(rng, subject, level)
                while problem.prompt in taken:
                    problem = draw_problem(rng, subject, level)
                taken.add(problem.prompt)
                probe.append(problem_record(problem, f"probe-{len(probe):03d}"))

    vendor_subjects = [s for s in SUBJECTS if s != HELD_OUT]
    vendor = cohorts(rng, VENDOR_MIX, vendor_subjects, "v", taken)
    heldout = cohorts(rng, HELDOUT_MIX, [HELD_OUT], "h", taken)
    n_probe = write_jsonl(out / "probe.jsonl", probe)
    n_vendor = write_jsonl(out / "vendor.jsonl", (r for c in vendor for r in cohort_records(c)))
    n_held = write_jsonl(out / "heldout.jsonl", (r for c in heldout for r in cohort_records(c)))
    print(
        f"probe {n_probe} items; vendor {n_vendor} items in {len(vendor)} cohorts; "
        f"heldout ({HELD_OUT}) {n_held} items in {len(heldout)} cohorts",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
