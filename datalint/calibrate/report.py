"""Rendering an evaluation: label validation and a side-by-side rich table (stdout), JSON and
PNG plots (predicted vs actual lift; top-k% gain over random as k varies)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from datalint.extras import MissingExtra

ROW_ORDER = (
    "predictor",
    "ridge",
    "predictor+align",
    "grad_align_adam",
    "frac_nondegenerate",
    "mean_p1p",
    "pass_rate",
    "adv_std",
    "random",
)
COLUMNS = (
    ("pairwise_accuracy", "pair acc", "{:.3f}"),
    ("spearman", "Spearman", "{:+.3f}"),
    ("kendall_tau", "Kendall", "{:+.3f}"),
    ("top10_gain_over_random", "top10 / random", "{:+.0%}"),
    ("top10_gain_sd", "top10 gain sd", "{:+.2f}"),
    ("oracle_fraction", "of oracle", "{:.0%}"),
    ("loso_spearman", "LOSO Spearman", "{:+.3f}"),
    ("loso_top10_gain", "LOSO top10 / random", "{:+.0%}"),
    ("loso_top10_gain_sd", "LOSO top10 sd", "{:+.2f}"),
)


def _fmt(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return pattern.format(value)


def _console() -> Any:
    from rich.console import Console

    console = Console()
    # piped output defaults to 80 columns, which truncates the side-by-side table
    return console if console.is_terminal else Console(width=140)


def validation_lines(result: dict[str, Any]) -> list[str]:
    v = result["validation"]
    agree = v["seed_agreement"]
    noise = result["noise_ceiling"]
    by_seeds = noise.get("by_seeds") or {}
    lines = [
        f"label {v['label']}: {v['n_cohorts']} cohorts x {v['n_seeds']} seeds; "
        f"mean {v['mean']:+.4g}, sd {v['std']:.4g}, {v['frac_positive']:.0%} positive",
        "  per-seed mean: " + ", ".join(f"{k}: {x:+.4g}" for k, x in v["per_seed_mean"].items()),
        f"  seed agreement: Spearman {_fmt(agree['spearman'], '{:.3f}')}, "
        f"sign {_fmt(agree['sign_agreement'], '{:.0%}')}; reliability of the mean label "
        + ", ".join(f"{k} seeds {_fmt(x, '{:.2f}')}" for k, x in by_seeds.items()),
        f"  feature rollouts use seeds separate from training: {v['feature_seed_separate']}",
    ]
    lines += [f"  WARNING: {w}" for w in v["warnings"]]
    return lines


def print_validation(evaluation: dict[str, Any]) -> None:
    """Label validation first: is there anything worth fitting to?"""
    console = _console()
    console.print("[bold]Label validation[/bold]")
    for result in evaluation["labels"].values():
        for line in validation_lines(result):
            console.print(line, highlight=False)


def print_evaluation(evaluation: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    print_validation(evaluation)
    for label, result in evaluation["labels"].items():
        title = (
            f"{'NLL-lift' if label == 'nll' else 'reward-lift (P(gold))'}: "
            f"{result['cv']['kind']} CV over {result['validation']['n_cohorts']} cohorts"
        )
        table = Table(title=title, title_justify="left")
        table.add_column("scorer")
        for _, header, _ in COLUMNS:
            table.add_column(header, justify="right")
        for name in ROW_ORDER:
            m = result["scorers"].get(name)
            if m is None:
                continue
            style = "bold" if name == "predictor" else None
            table.add_row(name, *(_fmt(m.get(k), p) for k, _, p in COLUMNS), style=style)
        oracle = result["oracle"]
        table.add_row(
            "oracle (seed cross-fit)",
            "",
            _fmt(oracle.get("spearman"), "{:+.3f}"),
            "",
            "",
            _fmt(oracle.get("sd"), "{:+.2f}"),
            "100%",
            "",
            "",
            "",
            style="dim",
        )
        console.print(table)
    comparison = evaluation.get("label_comparison")
    if comparison:
        console.print(
            "labels agree (Spearman between NLL-lift and reward-lift): "
            f"{_fmt(comparison['spearman_between_labels'], '{:+.3f}')}; "
            f"the features predict [bold]{comparison['better_predicted']}[/bold] better "
            "(predictor Spearman relative to each label's noise ceiling)",
            highlight=False,
        )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def write_outputs(evaluation: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "evaluation.json"]
    written[0].write_text(json.dumps(_json_safe(evaluation), indent=2) + "\n", encoding="utf-8")
    written += write_plots(evaluation, out_dir)
    return written


def write_plots(evaluation: dict[str, Any], out_dir: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtra("calibrate", "matplotlib for the evaluation plots") from None
    written: list[Path] = []
    for label, result in evaluation["labels"].items():
        preds = result["predictions"]
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(preds["predictor"], preds["actual"], s=10, alpha=0.6)
        lo = min(min(preds["predictor"]), min(preds["actual"]))
        hi = max(max(preds["predictor"]), max(preds["actual"]))
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1)
        ax.set_xlabel("predicted lift (cross-validated)")
        ax.set_ylabel(f"measured {label}-lift (mean over seeds)")
        rho = result["scorers"]["predictor"]["spearman"]
        ax.set_title(f"{label}-lift: predicted vs actual (Spearman {rho:.2f})")
        path = out_dir / f"predicted_vs_actual_{label}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

        curve = result["gain_curve"]
        fractions = [100 * f for f in curve["fractions"]]
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in ROW_ORDER:
            if name in curve:
                ax.plot(
                    fractions,
                    curve[name],
                    marker="o",
                    label=name,
                    linewidth=2 if name == "predictor" else 1,
                )
        ax.axhline(0, color="grey", linewidth=1)
        ax.set_xlabel("top k% of cohorts picked")
        ax.set_ylabel("mean lift of picks - random (sd)")
        ax.set_title(f"{label}-lift: gain of top-k% picks over random")
        ax.legend(fontsize=8)
        path = out_dir / f"topk_gain_{label}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write_json(data: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_json_safe(data), indent=2) + "\n", encoding="utf-8")
    return path


LOWO_SIGNALS = ("mean_p1p", "adv_std", "frac_nondegenerate", "pass_rate")


def print_lowo(lowo: dict[str, Any]) -> None:
    """One row per held-out world: the nested predictor, its variant, the free signals, the
    world's seed-vs-rest ceiling and the interval's coverage (pairwise / Spearman / top-10% sd)."""
    from rich.table import Table

    console = _console()
    table = Table(
        title="Leave one world out (variant chosen on the other worlds only)", title_justify="left"
    )
    headers = (
        "held-out world",
        "variant",
        "predictor",
        "without signals",
        "grad_align_adam",
        *LOWO_SIGNALS,
        "ceiling",
        "80% cov",
    )
    for header in headers:
        table.add_column(header, justify="right" if header != "held-out world" else "left")

    def cell(m: dict[str, Any] | None) -> str:
        if m is None:
            return "n/a"
        return (
            f"{_fmt(m.get('pairwise_accuracy'), '{:.3f}')} / {_fmt(m.get('spearman'), '{:+.2f}')}"
            f" / {_fmt(m.get('top10_gain_sd'), '{:+.2f}')}"
        )

    for world, row in lowo["by_world"].items():
        ceiling = row["ceiling"]
        table.add_row(
            world,
            row["selected_variant"],
            cell(row["predictor"]),
            cell(row.get("predictor_without_signals")),
            cell((row.get("signals") or {}).get("grad_align_adam")),
            *(cell(row["free_signals"][n]) for n in LOWO_SIGNALS),
            f"{_fmt(ceiling['pairwise_accuracy'], '{:.3f}')} / "
            f"{_fmt(ceiling['spearman'], '{:+.2f}')}",
            _fmt(row["interval_coverage_80"], "{:.0%}"),
        )
    console.print(table)
    summary = lowo.get("summary") or {}
    if summary:
        console.print(
            f"mean over held-out worlds: predictor pairwise {summary['predictor_pairwise']:.3f}, "
            f"top-10% {summary['predictor_top10_gain_sd']:+.2f} sd, 80% interval coverage "
            f"{summary['interval_coverage_80']:.0%}; best free signal "
            f"{summary['best_free_signal']}. Out of domain the dataset score is: "
            f"{summary['out_of_domain_score']['score']}",
            highlight=False,
        )


def write_lowo_plot(lowo: dict[str, Any], path: Path) -> Path:
    """Pairwise accuracy per held-out world: the nested predictor, the free signals, the
    world's seed-vs-rest ceiling."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtra("calibrate", "matplotlib for the evaluation plots") from None
    worlds = list(lowo["by_world"])
    names = ("predictor", "grad_align_adam", *LOWO_SIGNALS, "ceiling")
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(worlds)), 4))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        values = []
        for w in worlds:
            row = lowo["by_world"][w]
            if name in ("predictor", "ceiling"):
                m = row[name]
            elif name == "grad_align_adam":
                m = (row.get("signals") or {}).get(name) or {}
            else:
                m = row["free_signals"][name]
            values.append(m.get("pairwise_accuracy") or 0.0)
        ax.bar([i + k * width for i in range(len(worlds))], values, width, label=name)
    ax.axhline(0.5, color="grey", linewidth=1)
    ax.axhline(0.70, color="red", linewidth=0.8, linestyle=":", label="target 0.70")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(worlds))], worlds, fontsize=7)
    ax.set_ylabel("pairwise accuracy on the held-out world")
    ax.set_ylim(0.3, 1.0)
    ax.set_title("leave one world out", fontsize=10)
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
