"""Check that the tiny world behaves like RLVR on a real base model, on the shipped tiny policy.

For cohorts of four kinds (frontier: attempts mostly disagree; known: level-1 problems; no
foothold: the hardest level; scrambled: gold answers replaced by the policy's own habit slips),
it samples 8 attempts per problem to measure disagreement (seed separate from training), runs
real GRPO (trl) on each cohort from the same base, and measures the NLL-lift on a probe set
(lift = probe NLL before - after; positive means the cohort taught the model).

Required: mean lift over frontier cohorts > 0, over scrambled cohorts < 0, and a positive
correlation between disagreement and lift. Results go to ``--out`` (JSON). A few minutes::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python scripts/check_world.py \
        --out pretrained/tiny-policy/world-check.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

import torch

from datalint.calibrate.grpo import exact_match_reward, load_base, train_cohort
from datalint.calibrate.probe import probe_nll
from datalint.world import (
    MAX_LEVEL,
    SUBJECTS,
    WorldCohort,
    draw_problem,
    make_cohort,
    make_cohorts,
)
from datalint.world.check import KINDS, cohort_row
from datalint.world.policy import sampled_pass_rates


def probe_set(
    seed: int, subjects: list[str], levels: list[int], per_cell: int
) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    problems = [
        draw_problem(rng, s, lv) for s in subjects for lv in levels for _ in range(per_cell)
    ]
    return [p.prompt for p in problems], [p.answer for p in problems]


@torch.no_grad()
def pass_rates(model, tokenizer, cohort: WorldCohort, samples: int, seed: int) -> list[float]:
    """Share of ``samples`` attempts at temperature 1 matching the cohort's claimed answers."""
    torch.manual_seed(seed)
    prompts = [p.prompt for p in cohort.problems]
    return sampled_pass_rates(
        model, tokenizer, prompts, cohort.answers(), samples, max_new_tokens=8
    )


def pearson(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2 or statistics.pstdev(xs) == 0 or statistics.pstdev(ys) == 0:
        return float("nan")
    return statistics.correlation(xs, ys)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="pretrained/tiny-policy")
    ap.add_argument("--out", default=None)
    ap.add_argument("--per-kind", type=int, default=4)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--probe-levels", type=int, nargs="+", default=list(range(1, MAX_LEVEL + 1)))
    ap.add_argument("--probe-per-cell", type=int, default=4)
    ap.add_argument("--calibration", type=int, default=0, help="also run N make_cohorts() cohorts")
    ap.add_argument("--holdout", default="dsum", help="subject kept out of the cohorts")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    base, tokenizer = load_base(args.model)
    probe_prompts, probe_answers = probe_set(
        args.seed + 1000, list(SUBJECTS), args.probe_levels, args.probe_per_cell
    )
    before = probe_nll(base, tokenizer, probe_prompts, probe_answers)
    subjects = [s for s in SUBJECTS if s != args.holdout]
    rng = random.Random(args.seed)
    planned = [
        (kind, j, make_cohort(rng, f"{kind}-{j}", kind, subjects))
        for kind in KINDS
        for j in range(args.per_kind)
    ]
    # cohorts as the calibration experiment draws them (make_cohorts: mixed levels, ~10% scrambled)
    planned += [
        ("calibration", j, c)
        for j, c in enumerate(make_cohorts(args.calibration, subjects, args.seed, prefix="cal"))
    ]
    rows = []
    t0 = time.perf_counter()
    for kind, j, cohort in planned:
        rates = pass_rates(base, tokenizer, cohort, samples=8, seed=args.seed + 500 + j)
        lifts, p_lifts, setup, train = [], [], [], []
        for s in range(args.seeds):
            run = train_cohort(
                args.model,
                [p.prompt for p in cohort.problems],
                exact_match_reward(cohort.answers()),
                steps=args.steps,
                lr=args.lr,
                seed=s,
            )
            after = probe_nll(run.model, tokenizer, probe_prompts, probe_answers)
            lifts.append(before.nll - after.nll)
            p_lifts.append(after.p_gold - before.p_gold)
            setup.append(run.setup_seconds)
            train.append(run.train_seconds)
        row = {
            **cohort_row(cohort, kind, rates, lifts, digits=5),
            "p_gold_lift": statistics.fmean(p_lifts),
            "setup_seconds": statistics.fmean(setup),
            "train_seconds": statistics.fmean(train),
        }
        rows.append(row)
        print(
            f"{cohort.id:14s} {row['subject']:4s} rates={rates} "
            f"lift={row['nll_lift']:+.4f} seeds={row['nll_lift_per_seed']}",
            file=sys.stderr,
            flush=True,
        )

    def kind_mean(kind: str, key: str) -> float:
        return statistics.fmean(r[key] for r in rows if r["kind"] == kind)

    unscrambled = [r for r in rows if r["kind"] in KINDS and not r["scrambled"]]
    calibration = [r for r in rows if r["kind"] == "calibration"]
    seed_pairs = [r["nll_lift_per_seed"][:2] for r in rows] if args.seeds >= 2 else []
    result = {
        "command": "python scripts/check_world.py " + " ".join(argv or sys.argv[1:]),
        "model": args.model,
        "grpo": {"steps": args.steps, "lr": args.lr, "num_generations": 8, "seeds": args.seeds},
        "probe": {
            "n_items": len(probe_prompts),
            "levels": args.probe_levels,
            "nll_before": before.nll,
            "p_gold_before": before.p_gold,
        },
        "mean_nll_lift_by_kind": {k: kind_mean(k, "nll_lift") for k in KINDS},
        "mean_p_gold_lift_by_kind": {k: kind_mean(k, "p_gold_lift") for k in KINDS},
        "corr_disagreement_lift_unscrambled": pearson(
            [r["disagreement"] for r in unscrambled], [r["nll_lift"] for r in unscrambled]
        ),
        "corr_mean_p1p_lift_unscrambled": pearson(
            [r["mean_p1p"] for r in unscrambled], [r["nll_lift"] for r in unscrambled]
        ),
        "corr_disagreement_lift_all": pearson(
            [r["disagreement"] for r in rows], [r["nll_lift"] for r in rows]
        ),
        "calibration_cohorts": len(calibration),
        "corr_disagreement_lift_calibration": pearson(
            [r["disagreement"] for r in calibration], [r["nll_lift"] for r in calibration]
        ),
        "corr_mean_p1p_lift_calibration": pearson(
            [r["mean_p1p"] for r in calibration], [r["nll_lift"] for r in calibration]
        ),
        "mean_nll_lift_calibration": statistics.fmean(r["nll_lift"] for r in calibration)
        if calibration
        else None,
        "seed_agreement": pearson([p[0] for p in seed_pairs], [p[1] for p in seed_pairs])
        if seed_pairs
        else None,
        "mean_setup_seconds": statistics.fmean(r["setup_seconds"] for r in rows),
        "mean_train_seconds": statistics.fmean(r["train_seconds"] for r in rows),
        "wall_seconds": time.perf_counter() - t0,
        "cohorts": rows,
    }
    result["passed"] = bool(
        result["mean_nll_lift_by_kind"]["frontier"] > 0
        and result["mean_nll_lift_by_kind"]["scrambled"] < 0
        and result["corr_disagreement_lift_unscrambled"] > 0
    )
    summary = {k: v for k, v in result.items() if k != "cohorts"}
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
