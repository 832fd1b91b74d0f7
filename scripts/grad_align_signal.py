"""Add the gradient signals (``datalint.signals.grad_align``) to a labelled world's store, after
the fact, and show how well each ranks the world's measured lifts next to the free signals.

    python scripts/grad_align_signal.py WORLD [WORLD ...]            # measure, store, report
    python scripts/grad_align_signal.py --report WORLD [WORLD ...]   # report only

Per world (``--worlds DIR``, default ``worlds/``): the cohorts' features and signals measured by
``measure_cohorts`` exactly as ``calibrate`` measures them (its defaults: 8 rollouts at seed 0,
temperature 1, the world's rollout cache), then every run of each cohort in
``worlds/WORLD/store.sqlite`` gains the signals (``CalibrationStore.add_signals``; the 23 features
and the labels are untouched), and ``worlds/WORLD/grad_align.json`` records the values and the
seconds spent sampling and on gradients. Stores labelled since gradient signals existed already
hold them; this is for the ones labelled before. The report prints pairwise accuracy and
Spearman against the mean NLL-lift over the store's seeds, next to mean p(1-p), adv_std,
frac_nondegenerate and pass_rate. Nothing is fitted: each signal is judged as it comes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datalint.calibrate import metrics  # noqa: E402
from datalint.calibrate.dataset import load_calibration_set  # noqa: E402
from datalint.calibrate.hashing import items_hash  # noqa: E402
from datalint.calibrate.store import CalibrationStore  # noqa: E402
from datalint.features_names import SIGNAL_NAMES  # noqa: E402

FREE = ("mean_p1p", "adv_std", "frac_nondegenerate", "pass_rate")


def measure(world_dir: Path) -> dict:
    from datalint.calibrate.run import CalibrateOptions, feature_measurement, load_items

    world = json.loads((world_dir / "world.json").read_text())
    policy = str(REPO / world["policy"])
    items = load_items([str(world_dir / "cohorts.jsonl")])
    probe = load_items([str(world_dir / "probe.jsonl")])
    opts = CalibrateOptions(
        paths=[str(world_dir / "cohorts.jsonl")],
        probe="",
        store="",
        cache_dir=str(world_dir / "cache"),
        progress=False,
    )
    t0 = time.perf_counter()
    # rollouts (cached) and the 23 exactly as calibrate measured them; gradients timed apart
    sampling = feature_measurement(items, probe, opts, policy, gradient_signals=False)
    t1 = time.perf_counter()
    from datalint.signals.grad_align import measure_alignments

    signals = measure_alignments(policy, sampling.cohorts, sampling.rollouts, probe).signals
    t2 = time.perf_counter()
    return {
        "world": world["world"],
        "signals": {
            items_hash(c.items): values for c, values in zip(sampling.cohorts, signals, strict=True)
        },
        "seconds": {"sampling_and_features": round(t1 - t0, 2), "gradients": round(t2 - t1, 2)},
        "n_cohorts": len(signals),
    }


def store_signals(world_dir: Path, measured: dict) -> int:
    store = CalibrationStore(world_dir / "store.sqlite")
    fingerprint = load_calibration_set(store).model_fingerprint
    updated = sum(
        store.add_signals(key, fingerprint, values) for key, values in measured["signals"].items()
    )
    store.close()
    return updated


def report(world_dir: Path) -> dict[str, dict[str, float]]:
    cset = load_calibration_set(CalibrationStore(world_dir / "store.sqlite"), world=world_dir.name)
    y = cset.label("nll")
    columns = {name: cset.column(name) for name in SIGNAL_NAMES}
    columns["mean_p1p"] = cset.mean_p1p
    for name in FREE[1:]:
        columns[name] = cset.feature(name)
    rows: dict[str, dict[str, float]] = {}
    print(f"{world_dir.name}: {cset.n_cohorts} cohorts")
    for name, score in columns.items():
        ok = ~np.isnan(score) & ~np.isnan(y)
        if ok.sum() < 3:
            print(f"  {name:20s} not measured")
            continue
        rows[name] = {
            "pairwise": metrics.pairwise_accuracy(score[ok], y[ok]),
            "spearman": metrics.spearman(score[ok], y[ok]),
            "n": int(ok.sum()),
        }
        r = rows[name]
        print(
            f"  {name:20s} pairwise {r['pairwise']:.3f}  spearman {r['spearman']:+.3f}  n={r['n']}"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("worlds", nargs="+")
    parser.add_argument("--worlds-dir", default=str(REPO / "worlds"))
    parser.add_argument("--report", action="store_true", help="only report, from the store")
    args = parser.parse_args()
    for name in args.worlds:
        world_dir = Path(args.worlds_dir) / name
        if not args.report:
            measured = measure(world_dir)
            updated = store_signals(world_dir, measured)
            (world_dir / "grad_align.json").write_text(json.dumps(measured, indent=1) + "\n")
            print(
                f"{name}: {measured['n_cohorts']} cohorts, {updated} runs updated, "
                f"{measured['seconds']}"
            )
        report(world_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
