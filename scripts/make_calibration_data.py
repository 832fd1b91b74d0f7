"""Write the calibration cohorts for the shipped lift predictor, from the tiny world's generator.

Mixed difficulty (each cohort draws its levels around its own centre), one subject per cohort,
all five subjects, about 10% scrambled cohorts (gold answers replaced by the policy's habit
slips). Deterministic given ``--seed``; no model needed::

    .venv/bin/python scripts/make_calibration_data.py --cohorts 400 --out build/cohorts.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from datalint.world import SUBJECTS, cohort_records, make_cohorts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohorts", type=int, default=400)
    ap.add_argument("--size", type=int, default=4, help="problems per cohort")
    ap.add_argument("--seed", type=int, default=20260620)
    ap.add_argument("--scrambled-share", type=float, default=0.1)
    ap.add_argument("--subjects", default=",".join(SUBJECTS))
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    subjects = [s.strip() for s in args.subjects.split(",") if s.strip()]
    cohorts = make_cohorts(
        args.cohorts,
        subjects,
        args.seed,
        size=args.size,
        scrambled_share=args.scrambled_share,
        prefix="cal",
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for cohort in cohorts:
            for record in cohort_records(cohort):
                fh.write(json.dumps(record) + "\n")
    n_scrambled = sum(c.scrambled for c in cohorts)
    print(f"wrote {len(cohorts)} cohorts ({n_scrambled} scrambled) to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
