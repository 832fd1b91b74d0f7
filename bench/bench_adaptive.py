"""Adaptive k against fixed k = 8, in one run on the same data: rollouts spent, agreement of the
per-cohort rule verdicts, and ranking accuracy against calibration labels.

Runs ``datalint check --format json`` (separate cold caches) on DATA: fixed k at seed 0 (the
reference), fixed k at seed 1 (the noise floor: how much fixed k's own verdicts and ranking move
with its sampling seed), ``--adaptive-k`` for each first stage in BENCH_FIRST (default 2) and
budget in BENCH_BUDGET (default 0.5), and, when BENCH_OLD_TREE names a checkout of an older
datalint (``git archive COMMIT | tar -x -C DIR``), that tree's ``--adaptive-k`` (the rule before
this one) with the same interpreter. It reads the calibration labels (mean probe-NLL lift over
seeds per cohort id) from STORE, a calibration store opened read-only.

Per run against the reference: the share of rollouts spent; the share of cohorts whose cohort-rule
verdicts (the set of cohort-scope codes that fire) are unchanged, in all and per rule; and
ranking accuracy as pairwise concordance with the labels (the share of cohort pairs both order
alike) of the shipped predictor's predicted lift and of mean p(1-p) over the cohort's groups (read
from the features, group_passrate_mean (1 - group_passrate_mean) - group_passrate_std^2, so a
stopped group counts with its posterior), with a paired bootstrap over cohorts (2000 resamples)
of the run minus the reference::

    [BENCH_FIRST=2,3] [BENCH_BUDGET=0.5,0.7] [BENCH_OLD_TREE=DIR] \\
        .venv/bin/python bench/bench_adaptive.py DATA STORE [EXTRA CHECK ARGS...]
    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python bench/bench_adaptive.py \\
        worlds/world0-arith-char-gpt2/cohorts.jsonl worlds/world0-arith-char-gpt2/store.sqlite
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def check(data: Path, cache: Path, extra: list[str], tree: str | None = None) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "datalint", "check", str(data), "--format", "json",
           "--exit-zero", "--cache-dir", str(cache), *extra]  # fmt: skip
    # `python -m` puts the working directory first on sys.path: run another tree from inside it
    env = dict(os.environ, PYTHONPATH=tree) if tree else None
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout), seconds


def verdicts(report: dict, codes: set[str] | None = None) -> dict[str, frozenset[str]]:
    """Per cohort, the codes of the findings at its lines (only ``codes`` when given)."""
    at: dict[tuple[str, int], str] = {}
    for cohort in report["cohorts"]:
        for line in cohort["lines"]:
            at[(line["path"], line["line"])] = cohort["id"]
    out: dict[str, set[str]] = {c["id"]: set() for c in report["cohorts"]}
    for finding in report["findings"]:
        cohort = at.get((finding.get("path"), finding.get("line")))
        if cohort is not None and (codes is None or finding["code"] in codes):
            out[cohort].add(finding["code"])
    return {k: frozenset(v) for k, v in out.items()}


def concordance(score: np.ndarray, label: np.ndarray, idx: np.ndarray) -> float:
    s, y = score[idx], label[idx]
    ds = np.sign(s[:, None] - s[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    mask = dy != 0
    return float(((ds == dy) & mask).sum() / max(mask.sum(), 1))


def mean_pq(cohort: dict) -> float:
    """Mean over the cohort's groups of p(1-p), from its features."""
    f = cohort["features"]
    mean, std = f["group_passrate_mean"], f["group_passrate_std"]
    return float(mean * (1 - mean) - std**2) if mean is not None else float("nan")


def compare(fixed: dict, other: dict, labels: dict[str, float]) -> dict:
    from datalint.rulebook import load_rules

    n_items = sum(len(c["items"]) for c in fixed["cohorts"])
    spent = sum(
        c["sampling"]["rollouts_spent"]
        if "sampling" in c
        else sum(d["n_rollouts"] for d in c["items"])
        for c in other["cohorts"]
    )
    fixed_spent = sum(d["n_rollouts"] for c in fixed["cohorts"] for d in c["items"])
    cohort_codes = {r.code for r in load_rules() if r.scope == "cohort"}
    vf, va = verdicts(fixed, cohort_codes), verdicts(other, cohort_codes)
    same = sum(1 for k in vf if vf[k] == va.get(k))
    fired = sorted({c for v in vf.values() for c in v} | {c for v in va.values() for c in v})
    per_rule = {
        code: round(sum(1 for k in vf if (code in vf[k]) == (code in va.get(k, ()))) / len(vf), 4)
        for code in fired
    }
    af, aa = verdicts(fixed), verdicts(other)
    same_all = sum(1 for k in af if af[k] == aa.get(k))
    by_id_f = {c["id"]: c for c in fixed["cohorts"]}
    by_id_a = {c["id"]: c for c in other["cohorts"]}
    ids = sorted(k for k in labels if k in by_id_f and k in by_id_a)
    y = np.array([labels[k] for k in ids])
    scores = {
        "predictor": (
            np.array([by_id_f[k]["predicted_lift"] for k in ids], dtype=float),
            np.array([by_id_a[k]["predicted_lift"] for k in ids], dtype=float),
        ),
        "mean_p(1-p)": (
            np.array([mean_pq(by_id_f[k]) for k in ids]),
            np.array([mean_pq(by_id_a[k]) for k in ids]),
        ),
    }
    rng = np.random.default_rng(0)
    everyone = np.arange(len(ids))
    ranking = {}
    for name, (sf, sa) in scores.items():
        diffs = []
        for _ in range(2000):
            idx = rng.integers(0, len(ids), len(ids))
            diffs.append(concordance(sa, y, idx) - concordance(sf, y, idx))
        lo, hi = np.percentile(diffs, [2.5, 97.5])
        ranking[name] = {
            "fixed_k": round(concordance(sf, y, everyone), 4),
            "this_run": round(concordance(sa, y, everyone), 4),
            "difference_95ci": [round(float(lo), 4), round(float(hi), 4)],
            "interval_includes_0_or_better": bool(hi >= 0),
        }
    return {
        "cohorts": len(vf),
        "labelled_cohorts": len(ids),
        "items": n_items,
        "rollouts_fixed_k": fixed_spent,
        "rollouts_this_run": spent,
        "rollouts_ratio": round(spent / fixed_spent, 3),
        "cohort_rule_verdicts_unchanged": round(same / len(vf), 4),
        "per_rule_verdicts_unchanged": per_rule,
        "cohort_and_item_rule_verdicts_unchanged": round(same_all / len(af), 4),
        "ranking_concordance": ranking,
    }


def read_labels(store: Path) -> dict[str, float]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT cohort_id, lift FROM runs").fetchall()
    lifts: dict[str, list[float]] = defaultdict(list)
    for cohort_id, lift in rows:
        lifts[cohort_id].append(lift)
    return {k: float(np.mean(v)) for k, v in lifts.items()}


def main() -> int:
    data, store = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    extra = sys.argv[3:]
    labels = read_labels(store)
    firsts = [int(x) for x in os.environ.get("BENCH_FIRST", "2").split(",")]
    budgets = [float(x) for x in os.environ.get("BENCH_BUDGET", "0.5").split(",")]
    old_tree = os.environ.get("BENCH_OLD_TREE")
    keep = os.environ.get("BENCH_KEEP")
    with tempfile.TemporaryDirectory() as tmp:
        fixed, fixed_s = check(data, Path(tmp) / "fixed", extra)
        result: dict = {"data": str(data), "check_wall_s_fixed": round(fixed_s, 1), "runs": {}}
        again, _ = check(data, Path(tmp) / "seed1", [*extra, "--seed", "1"])
        result["runs"]["fixed k, seed 1 (noise floor)"] = compare(fixed, again, labels)
        runs: list[tuple[str, list[str], str | None]] = []
        for first in firsts:
            for share in budgets:
                flags = ["--adaptive-first", str(first), "--adaptive-budget", str(share)]
                runs.append((f"adaptive first={first} budget={share}", flags, None))
        if old_tree:
            runs.append(("old adaptive (first=2, grow where the 2 disagree)", [], old_tree))
        for n, (name, flags, tree) in enumerate(runs):
            report, seconds = check(
                data, Path(tmp) / f"a{n}", [*extra, "--adaptive-k", *flags], tree
            )
            result["runs"][name] = compare(fixed, report, labels) | {
                "check_wall_s": round(seconds, 1)
            }
            if keep:
                Path(keep, f"run{n}.json").write_text(json.dumps(report))
        if keep:
            Path(keep, "fixed.json").write_text(json.dumps(fixed))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
