"""What a loop's rounds add up to: curves, arm differences with bootstrap intervals across seeds,
the oracle-measured rank accuracy by round, the cost of scoring against training; written as the
JSON log, a summary JSON and PNG plots."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from datalint.loop.options import ARMS
from datalint.loop.store import RoundRow

BOOTSTRAP_RESAMPLES = 10_000
MIN_SEEDS_FOR_INTERVAL = 5
COMPARISONS = (
    ("learned", "random"),
    ("learned", "p1p"),
    ("p1p", "random"),
    ("oracle", "random"),
    ("oracle", "learned"),
)
RANK_SCORERS = ("predicted", "prior", "mean_p1p", "adv_std")


def bootstrap_interval(values: list[float], level: float = 0.95, seed: int = 0) -> list[float]:
    """Percentile bootstrap interval of the mean over ``values`` (the seeds)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return [math.nan, math.nan]
    if x.size == 1:
        return [float(x[0]), float(x[0])]
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(BOOTSTRAP_RESAMPLES, x.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return [float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))]


def _curves(rows: list[RoundRow], base_nll: float) -> dict[str, dict[int, list[float]]]:
    """arm -> seed -> probe NLL after each finished round, with the base NLL as round 0."""
    out: dict[str, dict[int, list[float]]] = defaultdict(dict)
    for row in sorted(rows, key=lambda r: (r.arm, r.loop_seed, r.round)):
        curve = out[row.arm].setdefault(row.loop_seed, [base_nll])
        if row.round == len(curve) - 1:
            curve.append(row.nll_after)
    return out


def summarise(rows: list[RoundRow], opts: Any, base_nll: float) -> dict[str, Any]:
    arms = [a for a in ARMS if a in opts.arms]
    curves = _curves(rows, base_nll)
    rounds = opts.rounds
    complete = sorted(
        s
        for s in range(opts.seeds)
        if all(len(curves.get(a, {}).get(s, [])) >= rounds + 1 for a in arms)
    )
    per_arm: dict[str, Any] = {}
    for arm in arms:
        by_round = []
        for r in range(rounds + 1):
            vals = [curves[arm][s][r] for s in complete]
            by_round.append(
                {
                    "round": r,
                    "mean": float(np.mean(vals)) if vals else None,
                    "ci95": bootstrap_interval(vals) if vals else None,
                }
            )
        finals = [curves[arm][s][rounds] for s in complete]
        per_arm[arm] = {
            "final_nll_mean": float(np.mean(finals)) if finals else None,
            "final_nll_ci95": bootstrap_interval(finals) if finals else None,
            "final_nll_by_seed": dict(zip(map(str, complete), finals, strict=True)),
            "by_round": by_round,
        }
    comparisons = []
    for better, worse in COMPARISONS:
        if better not in arms or worse not in arms or not complete:
            continue
        # advantage in nats: how much lower ``better``'s probe NLL is than ``worse``'s
        diffs = [curves[worse][s][rounds] - curves[better][s][rounds] for s in complete]
        ci = bootstrap_interval(diffs)
        comparisons.append(
            {
                "arm": better,
                "versus": worse,
                "advantage_mean": float(np.mean(diffs)),
                "advantage_sd": float(np.std(diffs, ddof=1)) if len(diffs) > 1 else None,
                "ci95": ci,
                # a bootstrap over fewer seeds has too few distinct resamples to mean anything
                "excludes_zero": (
                    bool(ci[0] > 0 or ci[1] < 0) if len(diffs) >= MIN_SEEDS_FOR_INTERVAL else None
                ),
                "n_seeds": len(diffs),
                "wins": int(sum(d > 0 for d in diffs)),
            }
        )
    return {
        "base_nll": base_nll,
        "rounds": rounds,
        "seeds_complete": complete,
        "n_seeds_complete": len(complete),
        "arms": per_arm,
        "comparisons": comparisons,
        "rank_accuracy_by_round": rank_accuracy_by_round(rows, rounds),
        "cost": cost(rows, arms, opts.candidates),
        "learned_refit_engaged_at_round": _engaged(rows),
        "learned_refit_rounds": _refit_rounds(rows),
        "bootstrap": f"percentile, {BOOTSTRAP_RESAMPLES} resamples of seeds, numpy rng 0",
    }


def rank_accuracy_by_round(rows: list[RoundRow], rounds: int) -> list[dict[str, Any]]:
    """On the oracle's rounds (every candidate trained): pairwise accuracy of each scorer on that
    round's candidates, mean over seeds. ``predicted`` is the oracle arm's online predictor,
    refitted on its own earlier rounds only."""
    out = []
    for r in range(rounds):
        entries = [
            row.entry["rank_accuracy"]
            for row in rows
            if row.arm == "oracle" and row.round == r and row.entry.get("rank_accuracy")
        ]
        item: dict[str, Any] = {"round": r, "n_seeds": len(entries)}
        for scorer in RANK_SCORERS:
            vals = [e[scorer] for e in entries if e.get(scorer) is not None]
            item[scorer] = float(np.mean(vals)) if vals else None
        versions = sorted(
            {
                row.entry["predictor_version"]
                for row in rows
                if row.arm == "oracle" and row.round == r
            }
        )
        item["predictor_versions"] = versions
        out.append(item)
    return out


def cost(rows: list[RoundRow], arms: list[str], k: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arm in arms:
        secs = [row.entry["seconds"] for row in rows if row.arm == arm]
        if not secs:
            continue
        scoring = float(np.mean([s["scoring"] for s in secs]))
        training = float(np.mean([s["training"] + s["probe"] for s in secs]))
        trained = float(np.mean([s["n_trained"] for s in secs]))
        per_run = training / trained if trained else math.nan
        out[arm] = {
            "scoring_s_per_round": scoring,
            "training_s_per_round": training,
            "runs_per_round": trained,
            "training_s_per_run": per_run,
            # the loop pays to score K candidates instead of training K
            "scoring_over_training_k": scoring / (k * per_run) if per_run else None,
        }
    return out


def _engaged(rows: list[RoundRow]) -> int | None:
    rounds = [
        row.round
        for row in rows
        if row.arm == "learned" and row.entry["predictor_version"].startswith(("refit", "ridge"))
    ]
    return min(rounds) if rounds else None


def _refit_rounds(rows: list[RoundRow]) -> dict[str, int]:
    """How many of the learned arm's rounds the refit scored, of how many."""
    learned = [row for row in rows if row.arm == "learned"]
    refit = [r for r in learned if r.entry["predictor_version"].startswith(("refit", "ridge"))]
    return {"refit": len(refit), "rounds": len(learned)}


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_log(rows: list[RoundRow], opts: Any, setup: Any, base_nll: float) -> Path:
    """``loop-log.json``: one entry per finished (seed, arm, round), rewritten from the store."""
    out = Path(setup.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = {
        "loop_hash": setup.loop_hash,
        "base_nll": base_nll,
        "base_fingerprint": setup.fingerprint,
        "settings": opts.loop_settings(),
        "rounds": [r.entry for r in sorted(rows, key=lambda r: (r.loop_seed, r.round, r.arm))],
    }
    _write_json(out / "loop-log.json", log)
    return out / "loop-log.json"


def write_outputs(rows: list[RoundRow], opts: Any, setup: Any, base_nll: float) -> list[Path]:
    out = Path(setup.out_dir)
    summary = summarise(rows, opts, base_nll)
    written = [write_log(rows, opts, setup, base_nll), out / "loop-summary.json"]
    _write_json(written[1], _json_safe(summary))
    if (
        importlib.util.find_spec("matplotlib") is not None
    ):  # the calibrate extra; JSON is the contract
        written += plot(summary, rows, out, opts, base_nll)
    return written


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


COLORS = {"learned": "tab:blue", "random": "tab:gray", "p1p": "tab:orange", "oracle": "tab:green"}


def plot(
    summary: dict[str, Any], rows: list[RoundRow], out: Path, opts: Any, base_nll: float
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    n = summary["n_seeds_complete"]
    for arm, data in summary["arms"].items():
        pts = [p for p in data["by_round"] if p["mean"] is not None]
        if not pts:
            continue
        x = [p["round"] for p in pts]
        ax.plot(x, [p["mean"] for p in pts], marker="o", color=COLORS.get(arm), label=arm)
        ax.fill_between(
            x,
            [p["ci95"][0] for p in pts],
            [p["ci95"][1] for p in pts],
            color=COLORS.get(arm),
            alpha=0.15,
        )
    ax.axhline(base_nll, color="black", lw=0.6, ls=":")
    ax.set_xlabel("round (GRPO runs kept; 0 = base policy)")
    ax.set_ylabel("probe NLL (nats/token, lower is better)")
    ax.set_title(f"datalint loop: mean over {n} seeds, 95% bootstrap bands")
    ax.legend()
    fig.tight_layout()
    path = out / "loop-nll.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)

    ranks = summary["rank_accuracy_by_round"]
    if any(r["n_seeds"] for r in ranks):
        fig, ax = plt.subplots(figsize=(7, 4))
        labels = {
            "predicted": "oracle arm's online predictor",
            "prior": "prior (cold start)",
            "mean_p1p": "mean p(1-p)",
            "adv_std": "adv_std",
        }
        for scorer, label in labels.items():
            pts = [(r["round"], r[scorer]) for r in ranks if r[scorer] is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=label)
        ax.axhline(0.5, color="black", lw=0.6, ls=":")
        ax.set_ylim(0, 1)
        ax.set_xlabel("round")
        ax.set_ylabel("pairwise rank accuracy on the round's candidates")
        ax.set_title("rank accuracy on the oracle's rounds (all candidates trained)")
        ax.legend()
        fig.tight_layout()
        path = out / "loop-rank-accuracy.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written
