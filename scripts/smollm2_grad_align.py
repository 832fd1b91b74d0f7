"""The gradient signals on the SmolLM2-135M-Instruct world check's cohorts, against their lifts.

    python scripts/smollm2_grad_align.py [--work /work/smollm2-work] [--model DIR]

Reads the check's cohorts (``worlds/smollm2-135m-instruct/cohorts.jsonl``), measures them as the
check did (calibrate's feature-rollout settings, the check's system prompt, its rollout cache
under ``--work`` when present) with ``gradient_signals=True``, and scores ``grad_align_adam``,
``grad_align_cos`` and the free signals against the check store's NLL-lifts (one seed), on all
cohorts and on the unscrambled ones. Writes ``worlds/smollm2-135m-instruct/grad-align.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from smollm2_world_check import OUT, SYSTEM_PROMPT  # noqa: E402

from datalint.calibrate import metrics  # noqa: E402
from datalint.calibrate.dataset import load_calibration_set  # noqa: E402
from datalint.calibrate.hashing import items_hash  # noqa: E402
from datalint.calibrate.store import CalibrationStore  # noqa: E402
from datalint.calibrate.worlds import restore_store  # noqa: E402

SIGNALS = ("grad_align_adam", "grad_align_cos", "grad_align_sgd")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/work/smollm2-work"))
    parser.add_argument("--model")
    args = parser.parse_args()
    from datalint.calibrate.run import CalibrateOptions, feature_measurement, load_items

    model_dir = (
        args.model
        or subprocess.run(
            [sys.executable, "-m", "datalint", "model", "import-gguf"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    check = json.loads((OUT / "world-check.json").read_text())
    length = int(check["grpo"]["max_completion_length"])
    with tempfile.TemporaryDirectory() as tmp:
        cset = load_calibration_set(
            CalibrationStore(restore_store(OUT / "check-store.sql.gz", Path(tmp)))
        )
    lift = dict(zip(cset.cohort_keys, cset.label("nll"), strict=True))
    cache = args.work / "cache"
    opts = CalibrateOptions(  # the check's own feature-rollout settings
        paths=[],
        probe="",
        store="",
        cohort_size=1,
        feature_max_new_tokens=length,
        default_verifier="numeric",
        cache_dir=str(cache) if cache.is_dir() else None,
        system_prompt=SYSTEM_PROMPT,
    )
    items = load_items([str(OUT / "cohorts.jsonl")])
    probe = load_items([str(OUT / "probe.jsonl")])
    t0 = time.perf_counter()
    measured = feature_measurement(items, probe, opts, model_dir)
    seconds = time.perf_counter() - t0
    rows = []
    for cohort, report in zip(measured.cohorts, measured.reports, strict=True):
        key = items_hash(cohort.items)
        rates = [d.pass_rate for d in report.items]
        rows.append(
            {
                "cohort": cohort.id,
                "kind": (cohort.items[0].meta or {}).get("kind"),
                "lift": float(lift[key]) if key in lift else None,
                "mean_p1p": float(np.mean([p * (1 - p) for p in rates])),
                "adv_std": report.features.get("adv_std"),
                **report.signals,
            }
        )
    scores: dict[str, dict[str, float]] = {}
    for subset, keep in (
        ("all", lambda r: True),
        ("unscrambled", lambda r: r["kind"] != "scrambled"),
    ):
        chosen = [r for r in rows if keep(r) and r["lift"] is not None]
        y = np.array([r["lift"] for r in chosen])
        scores[subset] = {"n_cohorts": len(chosen)}
        for name in (*SIGNALS, "mean_p1p", "adv_std"):
            s = np.array([np.nan if r.get(name) is None else r[name] for r in chosen], dtype=float)
            scores[subset][name] = metrics.pairwise_accuracy(np.nan_to_num(s), y)
    out = {"model": model_dir, "seconds": round(seconds, 1), "cohorts": rows, "pairwise": scores}
    (OUT / "grad-align.json").write_text(json.dumps(out, indent=1) + "\n")
    for r in rows:
        adam, cos = r.get("grad_align_adam", np.nan), r.get("grad_align_cos", np.nan)
        print(f"{r['cohort']:14s} {r['kind'] or '':12s} lift {r['lift']:+.4f}  ", end="")
        print(f"adam {adam:+10.3f}  cos {cos:+.4f}")
    print(json.dumps(scores, indent=1))
    print(f"{seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
