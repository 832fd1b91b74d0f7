"""Local calibration curve: how many of a new model's own cohorts the predictor needs.

For each world H held out of the prior (the other worlds): half of H's cohorts are a fixed test
set; from the other half, n = 0, 10, 20, 40, 80 cohorts are drawn (5 draws each) as the user's
local calibration. Scored on the test set by pairwise accuracy (and Spearman):

- ``prior+local``: ``fit --prior`` (the other worlds' rows plus the local ones, up-weighted so the
  local rows weigh as much in all as the prior rows), the variant chosen by nested LOWO on the
  prior worlds;
- ``local only``: a from-scratch fit of the same variant on the same local cohorts (n >= 10);
- ``coverage_80``: how often the ``prior+local`` predictor's 80% interval holds the measured
  lift on the test half (local cohorts fix the world's level, which no prior can know);
- ``mean_p1p`` / ``adv_std``: the free signals (no fit), and ``grad_align_adam`` as it comes
  when the stores hold it.

    python bench/local_calibration.py worlds/*/store.sqlite \
        --out docs/lift-predictor/local-calibration.json

Writes the JSON and a PNG beside it; also the CPU seconds of one ``prior+local`` fit (the
recipe's cost beyond ``calibrate`` itself).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datalint.calibrate import metrics
from datalint.calibrate.lowo import free_signal, pooled, select_variant
from datalint.calibrate.variants import fit_variant
from datalint.calibrate.worlds import load_worlds, parse_world_names

SIZES = (0, 10, 20, 40, 80)


def curve(
    sets: list, label: str = "nll", draws: int = 5, seed: int = 0, intervals: bool = True
) -> dict:
    rng = np.random.default_rng(seed)
    out: dict = {"sizes": list(SIZES), "draws": draws, "by_world": {}}
    fit_seconds: list[float] = []
    for held in sets:
        prior = [c for c in sets if c is not held]
        variant = select_variant(prior, label)[0]  # one prior world: 5-fold CV inside it
        rows = np.flatnonzero(~np.isnan(held.label(label)))
        order = rng.permutation(rows)
        test = held.subset(np.sort(order[: len(order) // 2]))
        pool = order[len(order) // 2 :]
        y_test = test.label(label)
        groups = np.array([held.world] * test.n_cohorts, dtype=object)
        world: dict = {"variant": variant.name, "n_test": int(test.n_cohorts), "sizes": {}}
        for name in ("mean_p1p", "adv_std", "grad_align_adam"):
            if name == "grad_align_adam":
                s = test.column(name)
                if np.isnan(s).any():
                    continue
            else:
                s = free_signal(test, name)
            world[name] = {
                "pairwise_accuracy": metrics.pairwise_accuracy(s, y_test),
                "spearman": metrics.spearman(s, y_test),
            }
        for n in SIZES:
            if n > len(pool):
                continue
            scores: dict[str, list[float]] = {"prior+local": [], "local only": []}
            covered: list[float] = []
            for _ in range(draws if n else 1):
                local = held.subset(np.sort(rng.choice(pool, size=n, replace=False)))
                sets_fit = prior + ([local] if n else [])
                x, y, g = pooled(sets_fit, label)
                w = np.ones(len(y))
                if n:
                    w[g == held.world] = max(1.0, (len(y) - n) / n)
                start = time.process_time()
                model = fit_variant(variant, x, y, g, weights=w, intervals=intervals)
                fit_seconds.append(time.process_time() - start)
                if intervals:
                    lo, hi = model.interval(test.columns, groups)
                    covered.append(float(np.mean((y_test >= lo) & (y_test <= hi))))
                scores["prior+local"].append(
                    metrics.pairwise_accuracy(model.predict(test.columns, groups), y_test)
                )
                if n >= 10:
                    xl, yl, gl = pooled([local], label)
                    alone = fit_variant(variant, xl, yl, gl, intervals=False)
                    scores["local only"].append(
                        metrics.pairwise_accuracy(alone.predict(test.columns, groups), y_test)
                    )
            world["sizes"][str(n)] = {
                k: {"mean": float(np.mean(v)), "sd": float(np.std(v))}
                for k, v in scores.items()
                if v
            }
            if covered:  # the prior+local predictor's 80% interval on the test half
                world["sizes"][str(n)]["coverage_80"] = float(np.mean(covered))
        out["by_world"][held.world] = world
    out["cpu_seconds_per_fit"] = float(np.median(fit_seconds)) if fit_seconds else None
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    worlds = list(result["by_world"])
    fig, axes = plt.subplots(1, len(worlds), figsize=(4 * len(worlds), 3.5), squeeze=False)
    for ax, name in zip(axes[0], worlds, strict=True):
        w = result["by_world"][name]
        for key, style in (("prior+local", "o-"), ("local only", "s--")):
            xs = [int(n) for n, v in w["sizes"].items() if key in v]
            ys = [w["sizes"][str(n)][key]["mean"] for n in xs]
            ax.plot(xs, ys, style, label=key)
        for key, color in (
            ("mean_p1p", "grey"),
            ("adv_std", "tab:green"),
            ("grad_align_adam", "tab:purple"),
        ):
            if key not in w:
                continue
            ax.axhline(w[key]["pairwise_accuracy"], color=color, linestyle=":", label=key)
        ax.axhline(0.72, color="red", linewidth=0.8, label="target 0.72 at 20")
        ax.set_title(f"held out: {name}", fontsize=9)
        ax.set_xlabel("local cohorts")
        ax.set_ylabel("pairwise accuracy (test half)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stores", nargs="+")
    parser.add_argument("--world-name", action="append", default=[], metavar="STORE=NAME")
    parser.add_argument("--out", default="docs/lift-predictor/local-calibration.json")
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args()
    sets, method = load_worlds(args.stores, names=parse_world_names(args.world_name))
    if len(sets) < 2:
        raise SystemExit("local calibration needs 2+ worlds: one held out, the others as prior")
    result = curve(sets, draws=args.draws)
    result["similarity_method"] = method
    result["stores"] = list(args.stores)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plot(result, out.with_suffix(".png"))
    print(json.dumps({w: v["sizes"] for w, v in result["by_world"].items()}, indent=1))
    print(f"cpu s per fit: {result['cpu_seconds_per_fit']}")


if __name__ == "__main__":
    main()
