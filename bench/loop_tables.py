"""Markdown tables of a ``datalint loop`` summary (``loop-summary.json``), for docs/loop/::

.venv/bin/python bench/loop_tables.py build/loop/run/loop-summary.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _f(value: float | None, fmt: str = ".4f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _yes_no(value: bool | None) -> str:
    return "too few seeds" if value is None else ("yes" if value else "no")


def tables(summary: dict) -> str:
    n = summary["n_seeds_complete"]
    rounds = summary["rounds"]
    lines = [
        f"Base policy probe NLL {summary['base_nll']:.4f}; {n} seeds complete "
        f"(seeds {', '.join(map(str, summary['seeds_complete']))}); {summary['bootstrap']}.",
        "",
        f"| arm | probe NLL after {rounds} rounds (mean) | 95% interval | change from base |",
        "|---|---|---|---|",
    ]
    for arm, data in summary["arms"].items():
        mean, (lo, hi) = data["final_nll_mean"], data["final_nll_ci95"]
        lines.append(
            f"| {arm} | {mean:.4f} | [{lo:.4f}, {hi:.4f}] | {mean - summary['base_nll']:+.4f} |"
        )
    lines += [
        "",
        "| comparison (advantage = other arm's NLL minus this arm's) | mean (nats) | sd | 95% "
        "interval | excludes 0 | seeds better |",
        "|---|---|---|---|---|---|",
    ]
    for c in summary["comparisons"]:
        lo, hi = c["ci95"]
        lines.append(
            f"| {c['arm']} vs {c['versus']} | {c['advantage_mean']:+.4f} | "
            f"{_f(c['advantage_sd'])} | [{lo:+.4f}, {hi:+.4f}] | "
            f"{_yes_no(c['excludes_zero'])} | {c['wins']}/{c['n_seeds']} |"
        )
    lines += [
        "",
        "Rank accuracy on the oracle arm's rounds (all candidates trained; pairwise accuracy on "
        "that round's candidates, mean over seeds; 0.5 = chance):",
        "",
        "| round | seeds | oracle arm's online predictor | its version | prior alone | "
        "mean p(1-p) | adv_std |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["rank_accuracy_by_round"]:
        lines.append(
            f"| {r['round']} | {r['n_seeds']} | {_f(r['predicted'], '.3f')} | "
            f"{', '.join(r['predictor_versions'])} | {_f(r['prior'], '.3f')} | "
            f"{_f(r['mean_p1p'], '.3f')} | {_f(r['adv_std'], '.3f')} |"
        )
    lines += [
        "",
        "Cost per round (seconds, mean over rounds and seeds, on a shared 2-core box):",
        "",
        "| arm | scoring K candidates | training + probe | GRPO runs | per run | "
        "scoring / training K |",
        "|---|---|---|---|---|---|",
    ]
    for arm, c in summary["cost"].items():
        lines.append(
            f"| {arm} | {c['scoring_s_per_round']:.2f} | {c['training_s_per_round']:.2f} | "
            f"{c['runs_per_round']:.0f} | {c['training_s_per_run']:.2f} | "
            f"{_f(c['scoring_over_training_k'], '.2f')} |"
        )
    engaged = summary.get("learned_refit_engaged_at_round")
    if engaged is None:
        lines += ["", "The learned arm's refit never scored a round."]
    else:
        lines += ["", f"The learned arm's refit first scored a round at round {engaged}."]
    used = summary.get("learned_refit_rounds")
    if used:
        lines[-1] += f" The prior scored {used['rounds'] - used['refit']} of its {used['rounds']}"
        lines[-1] += f" rounds, the refit {used['refit']}."
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(tables(json.loads(Path(argv[0]).read_text("utf-8"))), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
