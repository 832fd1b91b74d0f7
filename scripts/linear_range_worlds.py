"""The gradient signals' linear-range ratio on every recorded world, as `check` judges it.

    python scripts/linear_range_worlds.py [--json OUT]

For each world under ``worlds/`` with recorded signals: the median over its cohorts of
|lr x steps x grad_align_adam| (the label rule's lr and steps, from the store's settings), the
probe NLL at the base weights (the store's ``nll_before``), their ratio and the verdict of
:func:`datalint.predict.linear_range.linear_range`; beside it, how well grad_align_adam ranks
the world's measured NLL-lifts (pairwise accuracy, cohorts with a finite signal). The tiny
worlds read their label store (``store.sql.gz``); SmolLM2-135M-Instruct reads its world check
(``world-check.json``: probe NLL, lr, steps) and ``grad-align.json`` (signals and lifts). Reads
only; writes nothing unless ``--json`` is given.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datalint.calibrate.dataset import load_calibration_set  # noqa: E402
from datalint.calibrate.metrics import pairwise_accuracy  # noqa: E402
from datalint.calibrate.store import CalibrationStore  # noqa: E402
from datalint.calibrate.worlds import restore_store  # noqa: E402
from datalint.predict.linear_range import first_order_lift, linear_range, percent  # noqa: E402

WORLDS = ROOT / "worlds"
SMOLLM2 = WORLDS / "smollm2-135m-instruct"


def _row(world: str, adam: np.ndarray, lift: np.ndarray, nll: float, lr: float, steps: int):
    ok = np.isfinite(adam)
    verdict = linear_range(
        [first_order_lift(float(a), lr, steps) for a in adam[ok]], nll, lr, steps
    )
    both = ok & np.isfinite(lift)
    return {
        "world": world,
        "n_cohorts_with_signals": int(ok.sum()),
        **verdict.as_dict(used=verdict.in_linear_range is not False),
        "pairwise_grad_align_adam": pairwise_accuracy(adam[both], lift[both]),
    }


def tiny_world(store_path: Path, workdir: Path) -> dict | None:
    sqlite_path = restore_store(store_path, workdir)
    cset = load_calibration_set(CalibrationStore(sqlite_path))
    adam = cset.column("grad_align_adam")
    if not np.isfinite(adam).any():
        return None
    conn = sqlite3.connect(sqlite_path)
    try:
        (nll,) = conn.execute("SELECT AVG(nll_before) FROM runs").fetchone()
    finally:
        conn.close()
    settings = cset.settings
    return _row(
        store_path.parent.name,
        adam,
        cset.label("nll"),
        float(nll),
        float(settings["lr"]),
        int(settings["steps"]),
    )


def smollm2() -> dict:
    check = json.loads((SMOLLM2 / "world-check.json").read_text())
    rows = json.loads((SMOLLM2 / "grad-align.json").read_text())["cohorts"]
    adam = np.array([r["grad_align_adam"] for r in rows], dtype=float)
    lift = np.array([r["lift"] for r in rows], dtype=float)
    grpo = check["grpo"]
    return _row(
        SMOLLM2.name,
        adam,
        lift,
        float(check["probe"]["nll_before"]),
        float(grpo["lr"]),
        int(grpo["steps"]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows, without = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for store in sorted(WORLDS.glob("*/store.sql.gz")):
            row = tiny_world(store, Path(tmp))
            if row is None:
                without.append(store.parent.name)
            else:
                rows.append(row)
    rows.append(smollm2())
    print(
        "| world | cohorts | median first-order lift | probe NLL | ratio | verdict "
        "| grad_align_adam pairwise |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        verdict = {True: "inside", False: "OUTSIDE", None: "not judged"}[r["in_linear_range"]]
        print(
            f"| {r['world']} | {r['n_cohorts']} of {r['n_cohorts_with_signals']} "
            f"| {r['first_order_lift_median']:.3g} | {r['probe_nll']:.3g} "
            f"| {percent(r['ratio'])} | {verdict} | {r['pairwise_grad_align_adam']:.3f} |"
        )
    if without:
        print(f"stores without recorded signals: {', '.join(without)}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "without_signals": without}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
