"""Adaptive k against fixed k = 8, in one run on the same data: rollouts spent, agreement of the
per-cohort rule verdicts, and ranking accuracy against calibration labels.

Runs ``datalint check --format json`` twice (fixed k, ``--adaptive-k``; separate cold caches)
on DATA, and reads the calibration labels (mean probe-NLL lift over seeds per cohort id) from
STORE, a calibration store (copy a live one first: ``sqlite3 src ".backup dst"``). Ranking
accuracy is pairwise concordance with the labels (the share of cohort pairs both order alike),
of the shipped predictor's predicted lift and of mean p(1-p) over the cohort's items; the
interval is a paired bootstrap over cohorts (2000 resamples) of adaptive minus fixed. The same
comparison of fixed k with sampling seed 1 against seed 0 is the noise floor: how much the
verdicts and ranking of fixed k = 8 itself move with its sampling seed::

    [BENCH_FIRST=2,3,4] .venv/bin/python bench/bench_adaptive.py DATA STORE [EXTRA CHECK ARGS...]
    .venv/bin/python bench/bench_adaptive.py worlds/world0-arith-char-gpt2/cohorts.jsonl \\
        /tmp/world0.sqlite
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


def check(data: Path, cache: Path, extra: list[str]) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "datalint", "check", str(data), "--format", "json",
           "--exit-zero", "--cache-dir", str(cache), *extra]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
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


def compare(fixed: dict, adaptive: dict, labels: dict[str, float]) -> dict:
    from datalint.rulebook import load_rules

    n_items = sum(len(c["items"]) for c in fixed["cohorts"])
    spent = sum(
        c["sampling"]["rollouts_spent"]
        if "sampling" in c
        else sum(d["n_rollouts"] for d in c["items"])
        for c in adaptive["cohorts"]
    )
    fixed_spent = sum(d["n_rollouts"] for c in fixed["cohorts"] for d in c["items"])
    cohort_codes = {r.code for r in load_rules() if r.scope == "cohort"}
    vf, va = verdicts(fixed, cohort_codes), verdicts(adaptive, cohort_codes)
    same = sum(1 for k in vf if vf[k] == va.get(k))
    af, aa = verdicts(fixed), verdicts(adaptive)
    same_all = sum(1 for k in af if af[k] == aa.get(k))
    by_id_f = {c["id"]: c for c in fixed["cohorts"]}
    by_id_a = {c["id"]: c for c in adaptive["cohorts"]}
    ids = sorted(k for k in labels if k in by_id_f and k in by_id_a)
    y = np.array([labels[k] for k in ids])

    def pq(c: dict) -> float:
        return float(np.mean([d["pass_rate"] * (1 - d["pass_rate"]) for d in c["items"]]))

    scores = {
        "predictor": (
            np.array([by_id_f[k]["predicted_lift"] for k in ids], dtype=float),
            np.array([by_id_a[k]["predicted_lift"] for k in ids], dtype=float),
        ),
        "mean_p(1-p)": (
            np.array([pq(by_id_f[k]) for k in ids]),
            np.array([pq(by_id_a[k]) for k in ids]),
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
            "adaptive_k": round(concordance(sa, y, everyone), 4),
            "difference_95ci": [round(float(lo), 4), round(float(hi), 4)],
            "interval_includes_0_or_better": bool(hi >= 0),
        }
    return {
        "cohorts": len(vf),
        "labelled_cohorts": len(ids),
        "items": n_items,
        "rollouts_fixed_k": fixed_spent,
        "rollouts_adaptive_k": spent,
        "rollouts_ratio": round(spent / fixed_spent, 3),
        "cohort_rule_verdicts_unchanged": round(same / len(vf), 4),
        "cohort_and_item_rule_verdicts_unchanged": round(same_all / len(af), 4),
        "ranking_concordance": ranking,
    }


def main() -> int:
    data, store = Path(sys.argv[1]), Path(sys.argv[2])
    extra = sys.argv[3:]
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT cohort_id, lift FROM runs").fetchall()
    lifts: dict[str, list[float]] = defaultdict(list)
    for cohort_id, lift in rows:
        lifts[cohort_id].append(lift)
    labels = {k: float(np.mean(v)) for k, v in lifts.items()}
    firsts = [int(x) for x in os.environ.get("BENCH_FIRST", "2").split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        fixed, fixed_s = check(data, Path(tmp) / "fixed", extra)
        result = {"data": str(data), "check_wall_s_fixed": round(fixed_s, 1), "adaptive": {}}
        # the noise floor: fixed k = 8 again, with another sampling seed
        again, _ = check(data, Path(tmp) / "seed1", [*extra, "--seed", "1"])
        result["fixed_k_seed_1_vs_seed_0"] = compare(fixed, again, labels)
        for first in firsts:
            cache = Path(tmp) / f"adaptive{first}"
            flags = [*extra, "--adaptive-k", "--adaptive-first", str(first)]
            adaptive, adaptive_s = check(data, cache, flags)
            result["adaptive"][f"first={first}"] = compare(fixed, adaptive, labels) | {
                "check_wall_s": round(adaptive_s, 1)
            }
            if os.environ.get("BENCH_KEEP"):
                for name, report in (("fixed", fixed), (f"adaptive{first}", adaptive)):
                    Path(os.environ["BENCH_KEEP"], f"{name}.json").write_text(json.dumps(report))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
