"""How well a signal ranks the oracle arm's candidates, round by round, at the oracle's weights.

    python bench/loop_oracle_rank.py LOOP_LOG POOL --probe PROBE [--cache-dir DIR] [--out F.json]

The oracle arm of ``datalint loop`` trains every candidate of every round from its current
checkpoint, so each of its rounds is K labelled candidates scored from the same weights. For each
such round this measures the candidates' gradient signals at that round's start checkpoint
(``measure_cohorts`` with the probe, exactly as the loop's scoring does; rollouts from the loop's
cache where it has them) and the pairwise accuracy of ``grad_align_adam`` against the realised
lifts within the round, next to what the log recorded for the loop's own predictor, its prior,
mean p(1-p) and adv_std. Prints the mean per round over seeds (0.5 = chance) and writes the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datalint.calibrate.run import load_items
from datalint.cohorts import make_cohorts
from datalint.engine import Gate
from datalint.loop.draws import pairwise_accuracy
from datalint.measure import measure_cohorts
from datalint.rollout.base import SamplingParams

RECORDED = ("predicted", "prior", "mean_p1p", "adv_std")


def signals_at(checkpoint: str, cohorts: list, probe: list, cache_dir: str | None) -> list[float]:
    items = [
        dataclasses.replace(it, cohort=f"{c.id}#{k}")
        for k, c in enumerate(cohorts)
        for it in c.items
    ]
    measured = measure_cohorts(
        items,
        cohort_size=4,
        params=SamplingParams(n=8, temperature=1.0, max_new_tokens=256, seed=0),
        backend="transformers",
        model=checkpoint,
        rollouts_file=None,
        cache_dir=cache_dir,
        use_cache=cache_dir is not None,
        progress=False,
        probe_items=probe,
        default_verifier="exact",
        gate=Gate(()),
        gradient_signals=True,
    )
    by_id = {c.id: r for c, r in zip(measured.cohorts, measured.reports, strict=True)}
    return [
        float(by_id[f"{c.id}#{k}"].signals.get("grad_align_adam", np.nan))
        if f"{c.id}#{k}" in by_id
        else float("nan")
        for k, c in enumerate(cohorts)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("pool")
    parser.add_argument("--probe", required=True)
    parser.add_argument("--cache-dir")
    parser.add_argument("--out")
    args = parser.parse_args()
    log = json.loads(Path(args.log).read_text())
    cohorts = make_cohorts(load_items([args.pool]), 4)
    probe = load_items([args.probe])
    by_round: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for entry in sorted(
        (e for e in log["rounds"] if e["arm"] == "oracle"), key=lambda e: (e["seed"], e["round"])
    ):
        cands = entry["candidates"]
        lifts = [c["realised_lift"] for c in cands]
        signal = signals_at(
            entry["start_checkpoint"],
            [cohorts[c["pool_index"]] for c in cands],
            probe,
            args.cache_dir,
        )
        row = by_round[entry["round"]]
        row["grad_align_adam"].append(pairwise_accuracy(signal, lifts))
        for name in RECORDED:
            row[name].append(entry["rank_accuracy"][name])
        print(
            f"seed {entry['seed']} round {entry['round']}: grad_align_adam "
            f"{row['grad_align_adam'][-1]:.3f}, loop's predictor {row['predicted'][-1]:.3f}",
            flush=True,
        )
    table = {
        str(r): {name: float(np.nanmean(v)) for name, v in cols.items()}
        | {"seeds": len(cols["prior"])}
        for r, cols in sorted(by_round.items())
    }
    names = ("grad_align_adam", *RECORDED)
    print("round  seeds  " + "  ".join(f"{n:>15s}" for n in names))
    for r, row in table.items():
        print(f"{r:>5s}  {row['seeds']:>5d}  " + "  ".join(f"{row[n]:15.3f}" for n in names))
    overall = {n: float(np.mean([row[n] for row in table.values()])) for n in names}
    print("mean          " + "  ".join(f"{overall[n]:15.3f}" for n in names))
    if args.out:
        Path(args.out).write_text(json.dumps({"by_round": table, "mean": overall}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
