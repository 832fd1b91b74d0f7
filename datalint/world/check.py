"""The world check: does GRPO on this world behave like RLVR on a real base model?

Before a world's labels are used it must show the three things the lift predictor relies on,
measured with the label rule itself (trl GRPO, 8 steps, 8 generations, Adam lr 2e-5, the world's
completion length) and the probe NLL-lift (before - after; positive = the cohort taught):

- frontier cohorts (every problem's 8 attempts disagree) lift on average;
- scrambled cohorts (gold answers replaced by the policy's own habit slips) hurt on average;
- across unscrambled cohorts, the share of disagreeing problems correlates positively with lift.

Cohort kinds are chosen from the base policy's *measured* pass rates on a pool of problems (so
"frontier" means the same thing in every world, whatever its size), plus the first cohorts of
the world's own calibration file. The result is a JSON document (``CHECK_SCHEMA``).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from datalint.world.files import policy_prompt, probe_problems, world_cohorts, world_problem
from datalint.world.generate import WorldCohort
from datalint.world.registry import WorldSpec
from datalint.world.subjects import MAX_LEVEL, Problem

KINDS = ("frontier", "known", "no_foothold", "scrambled")
SCHEMA_ID = "datalint.world-check/1"

_NUMBER = {"type": "number"}
_MAYBE_NUMBER = {"type": ["number", "null"]}
CHECK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": [
        "schema",
        "world",
        "spec_hash",
        "grpo",
        "probe",
        "pool",
        "mean_nll_lift_by_kind",
        "corr_disagreement_lift_unscrambled",
        "criteria",
        "passed",
        "cohorts",
    ],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "world": {"type": "string"},
        "spec_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "grpo": {
            "type": "object",
            "required": ["steps", "lr", "num_generations", "seeds", "max_completion_length"],
        },
        "probe": {"type": "object", "required": ["n_items", "nll_before", "p_gold_before"]},
        "pool": {"type": "object", "required": ["n_problems", "share_split"]},
        "mean_nll_lift_by_kind": {
            "type": "object",
            "required": list(KINDS),
            "additionalProperties": _MAYBE_NUMBER,
        },
        "corr_disagreement_lift_unscrambled": _MAYBE_NUMBER,
        "corr_mean_p1p_lift_unscrambled": _MAYBE_NUMBER,
        "mean_nll_lift_calibration": _MAYBE_NUMBER,
        "seed_agreement": _MAYBE_NUMBER,
        "criteria": {
            "type": "object",
            "required": [
                "frontier_lift_positive",
                "scrambled_lift_negative",
                "disagreement_correlates",
            ],
            "additionalProperties": {"type": "boolean"},
        },
        "passed": {"type": "boolean"},
        "cohorts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["cohort", "kind", "scrambled", "pass_rates", "nll_lift_per_seed"],
                "properties": {
                    "pass_rates": {"type": "array", "items": _NUMBER},
                    "nll_lift_per_seed": {"type": "array", "items": _NUMBER},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class CheckSettings:
    per_kind: int = 5
    calibration: int = 20
    seeds: int = 2
    steps: int = 8
    lr: float = 2e-5
    num_generations: int = 8
    pool_per_cell: int = 12
    samples: int = 8


def pearson(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3 or statistics.pstdev(xs) == 0 or statistics.pstdev(ys) == 0:
        return None
    return statistics.correlation(xs, ys)


def verdict(by_kind: dict[str, float | None], corr: float | None) -> dict[str, bool]:
    """The three criteria; a missing figure fails its criterion."""
    frontier, scrambled = by_kind.get("frontier"), by_kind.get("scrambled")
    return {
        "frontier_lift_positive": frontier is not None and frontier > 0,
        "scrambled_lift_negative": scrambled is not None and scrambled < 0,
        "disagreement_correlates": corr is not None and corr > 0,
    }


def cohort_row(
    cohort: WorldCohort, kind: str, rates: list[float], lifts: list[float], digits: int
) -> dict[str, Any]:
    """One cohort's line of a world check: its base pass rates and its NLL-lift per seed."""
    return {
        "cohort": cohort.id,
        "kind": kind,
        "scrambled": cohort.scrambled,
        "subject": cohort.problems[0].subject,
        "levels": [p.level for p in cohort.problems],
        "pass_rates": rates,
        "disagreement": sum(0 < r < 1 for r in rates) / len(rates),
        "mean_p1p": sum(r * (1 - r) for r in rates) / len(rates),
        "nll_lift_per_seed": [round(x, digits) for x in lifts],
        "nll_lift": statistics.fmean(lifts),
    }


class _HasCohortSize(Protocol):
    @property
    def cohort_size(self) -> int: ...


def choose_check_cohorts(
    spec: _HasCohortSize,
    pool: list[tuple[Problem, float]],
    per_kind: int | Mapping[str, int],
    seed: int,
) -> list[WorldCohort]:
    """Cohorts of four kinds from problems whose base pass rate (8 samples) is known.

    frontier and scrambled: problems whose attempts split (0 < p < 1), one subject per cohort
    where the pool allows; known: p == 1 (topped up with the easiest); no foothold: p == 0.
    A problem is used once. ``per_kind`` is one count for every kind or a count per kind (a
    kind it leaves out gets none); ``spec`` is anything with a ``cohort_size`` (a WorldSpec).
    """
    counts = per_kind if isinstance(per_kind, Mapping) else dict.fromkeys(KINDS, per_kind)
    rng = random.Random(seed)
    order = list(range(len(pool)))
    rng.shuffle(order)
    free = set(order)
    size = spec.cohort_size

    def take(accept: Callable[[float], bool], rank: Callable[[float], float]) -> list[Problem]:
        by_subject: dict[str, list[int]] = {}
        for i in order:
            if i in free and accept(pool[i][1]):
                by_subject.setdefault(pool[i][0].subject, []).append(i)
        full = [s for s, idx in by_subject.items() if len(idx) >= size]
        if full:
            chosen = by_subject[rng.choice(sorted(full))][:size]
        else:  # too few of this kind in any one subject: the closest problems overall
            chosen = sorted(free, key=lambda i: (rank(pool[i][1]), order.index(i)))[:size]
        free.difference_update(chosen)
        return [pool[i][0] for i in chosen]

    cohorts: list[WorldCohort] = []
    for j in range(max(counts.values(), default=0)):
        for kind in KINDS:
            if j >= counts.get(kind, 0):
                continue
            if kind in ("frontier", "scrambled"):
                problems = take(lambda p: 0 < p < 1, lambda p: abs(p - 0.5))
            elif kind == "known":
                problems = take(lambda p: p == 1, lambda p: -p)
            else:
                problems = take(lambda p: p == 0, lambda p: p)
            cohorts.append(WorldCohort(f"{kind}-{j}", kind, problems, kind == "scrambled"))
    return cohorts


def run_world_check(
    spec: WorldSpec,
    model_dir: str,
    settings: CheckSettings,
    *,
    completion_length: int,
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Measure the world check on the policy at ``model_dir`` (one torch thread)."""
    import torch

    from datalint.calibrate.grpo import exact_match_reward, load_base, train_cohort
    from datalint.calibrate.probe import probe_nll
    from datalint.world.policy import sampled_pass_rates

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    base, tokenizer = load_base(model_dir)
    probe = probe_problems(spec)
    probe_prompts = [policy_prompt(spec, p) for p in probe]
    probe_answers = [p.answer for p in probe]
    before = probe_nll(base, tokenizer, probe_prompts, probe_answers)

    def rates_of(problems: list[Problem], answers: list[str], seed: int) -> list[float]:
        torch.manual_seed(seed)
        prompts = [policy_prompt(spec, p) for p in problems]
        return sampled_pass_rates(
            base, tokenizer, prompts, answers, settings.samples, completion_length
        )

    rng = random.Random(spec.seeds.check)
    pool_problems = [
        world_problem(spec, rng, subject, level)
        for subject in spec.subjects
        for level in range(1, MAX_LEVEL + 1)
        for _ in range(settings.pool_per_cell)
    ]
    pool_rates = rates_of(pool_problems, [p.answer for p in pool_problems], spec.seeds.check)
    pool = list(zip(pool_problems, pool_rates, strict=True))
    planned = [
        (c.kind, c) for c in choose_check_cohorts(spec, pool, settings.per_kind, spec.seeds.check)
    ]
    planned += [("calibration", c) for c in world_cohorts(spec)[: settings.calibration]]

    rows: list[dict[str, Any]] = []
    for n, (kind, cohort) in enumerate(planned):
        rates = rates_of(cohort.problems, cohort.answers(), spec.seeds.check + 1 + n)
        prompts = [policy_prompt(spec, p) for p in cohort.problems]
        lifts, seconds = [], []
        for s in range(settings.seeds):
            t = time.perf_counter()
            run = train_cohort(
                model_dir,
                prompts,
                exact_match_reward(cohort.answers()),
                steps=settings.steps,
                lr=settings.lr,
                seed=s,
                num_generations=settings.num_generations,
                max_completion_length=completion_length,
            )
            after = probe_nll(run.model, tokenizer, probe_prompts, probe_answers)
            lifts.append(before.nll - after.nll)
            seconds.append(time.perf_counter() - t)
        row = {
            **cohort_row(cohort, kind, rates, lifts, digits=6),
            "run_seconds": statistics.fmean(seconds),
        }
        rows.append(row)
        log(
            f"{spec.name} check {n + 1}/{len(planned)} {cohort.id} rates={rates} "
            f"lift={row['nll_lift']:+.5f}"
        )
    return summarise(spec, settings, completion_length, before, pool_rates, rows, t0)


def summarise(
    spec: WorldSpec,
    settings: CheckSettings,
    completion_length: int,
    before: Any,
    pool_rates: list[float],
    rows: list[dict[str, Any]],
    t0: float,
) -> dict[str, Any]:
    def mean_of(selected: list[dict[str, Any]]) -> float | None:
        return statistics.fmean(r["nll_lift"] for r in selected) if selected else None

    by_kind = {k: mean_of([r for r in rows if r["kind"] == k]) for k in KINDS}
    unscrambled = [r for r in rows if not r["scrambled"]]
    calibration = [r for r in rows if r["kind"] == "calibration"]
    corr = pearson([r["disagreement"] for r in unscrambled], [r["nll_lift"] for r in unscrambled])
    pairs = [r["nll_lift_per_seed"][:2] for r in rows if len(r["nll_lift_per_seed"]) >= 2]
    criteria = verdict(by_kind, corr)
    return {
        "schema": SCHEMA_ID,
        "world": spec.name,
        "spec_hash": spec.spec_hash(),
        "grpo": {
            "steps": settings.steps,
            "lr": settings.lr,
            "num_generations": settings.num_generations,
            "seeds": settings.seeds,
            "max_completion_length": completion_length,
        },
        "probe": {
            "n_items": len(probe_problems(spec)),
            "nll_before": before.nll,
            "p_gold_before": before.p_gold,
        },
        "pool": {
            "n_problems": len(pool_rates),
            "share_split": sum(0 < r < 1 for r in pool_rates) / len(pool_rates),
            "share_always": sum(r == 1 for r in pool_rates) / len(pool_rates),
            "share_never": sum(r == 0 for r in pool_rates) / len(pool_rates),
        },
        "mean_nll_lift_by_kind": by_kind,
        "corr_disagreement_lift_unscrambled": corr,
        "corr_mean_p1p_lift_unscrambled": pearson(
            [r["mean_p1p"] for r in unscrambled], [r["nll_lift"] for r in unscrambled]
        ),
        "calibration_cohorts": len(calibration),
        "mean_nll_lift_calibration": mean_of(calibration),
        "corr_disagreement_lift_calibration": pearson(
            [r["disagreement"] for r in calibration if not r["scrambled"]],
            [r["nll_lift"] for r in calibration if not r["scrambled"]],
        ),
        "seed_agreement": pearson([p[0] for p in pairs], [p[1] for p in pairs]),
        "mean_run_seconds": statistics.fmean(r["run_seconds"] for r in rows) if rows else None,
        "wall_seconds": time.perf_counter() - t0,
        "criteria": criteria,
        "passed": all(criteria.values()),
        "cohorts": rows,
    }
