"""Rebuild the shipped lift predictor from the committed world stores, and ship it only if it
earns it.

    python scripts/build_predictor_from_worlds.py [--worlds worlds] [--out build/predictor]

Each ``worlds/WORLD/`` contributes ``store.sqlite`` when present, else its committed dump
``store.sql.gz`` / ``store.sql.zst`` (a world without labels is skipped, and said so). Then:
in-world cross-validation per world and nested leave-one-world-out (``datalint evaluate``'s
tables, into OUT/evaluation/), a candidate fitted on every world (``datalint fit``, variant by
nested LOWO) into OUT/candidate.onnx, and the decision, written to OUT/decision.json (the
tables, plot and decision are also copied to DOCS/worlds/):

the candidate replaces ``pretrained/lift-predictor.onnx`` only when at least two worlds have
labels and, on the held-out worlds the shipped predictor was not fit on, the candidate's nested
LOWO pairwise accuracy beats both the shipped predictor's and mean p(1-p)'s by more than 1e-4 (a
smaller difference is a tie: two lines on the same signal rank alike). A tie is broken by the
same comparison with the gradient signals blanked (what a check without a probe, or on a served
model, gets): the candidate's nested LOWO ``predictor_without_signals`` against the shipped
predictor fed the 23 alone, on the same worlds. Otherwise the shipped predictor stays, and the
decision says why. ``--force`` ships regardless (recorded).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datalint.calibrate import metrics  # noqa: E402
from datalint.calibrate.worlds import load_worlds  # noqa: E402
from datalint.features_names import COLUMN_NAMES, SIGNAL_NAMES  # noqa: E402
from datalint.predict import LiftPredictor  # noqa: E402
from datalint.predict.domain import card_worlds  # noqa: E402

SHIPPED = REPO / "pretrained" / "lift-predictor.onnx"
TIE = 1e-4  # pairwise accuracy closer than this counts as equal


def world_stores(root: Path) -> tuple[list[str], list[str]]:
    stores, missing = [], []
    for world in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for name in ("store.sqlite", "store.sql.gz", "store.sql.zst"):
            if (world / name).is_file():
                stores.append(str(world / name))
                break
        else:
            missing.append(world.name)
    return stores, missing


def shipped_scores(sets: list, shipped: Path, blank_signals: bool = False) -> dict[str, float]:
    """The shipped predictor's pairwise accuracy on each world it was not fit on; with
    ``blank_signals``, fed the 23 features alone."""
    predictor = LiftPredictor.load(shipped)
    own = {w["model_fingerprint"] for w in card_worlds(predictor.card)}
    own.add(predictor.card.get("model_fingerprint"))
    out = {}
    for cset in sets:
        if cset.model_fingerprint in own:
            continue
        y = cset.label("nll")
        keep = ~np.isnan(y)
        rows = [
            {
                n: (None if np.isnan(v) or (blank_signals and n in SIGNAL_NAMES) else float(v))
                for n, v in zip(COLUMN_NAMES, r, strict=True)
            }
            for r in cset.columns[keep]
        ]
        out[cset.world] = metrics.pairwise_accuracy(predictor.predict(rows), y[keep])
    return out


def decide(
    n_worlds: int,
    compared: list[str],
    lowo: dict[str, Any],
    shipped: dict[str, float],
    shipped_without_signals: Callable[[], dict[str, float]],
) -> dict[str, Any]:
    """Whether the candidate ships (see the module docstring): ``lowo`` is its card's nested
    leave-one-world-out table by world, ``shipped`` the shipped predictor's pairwise accuracy
    on the worlds it was not fit on; ``shipped_without_signals`` computes the same fed the 23
    alone, called only on a tie."""
    if n_worlds < 2:
        return {
            "ship": False,
            "reason": "labels from one world only: no held-out world to judge it on",
        }
    if not compared:
        return {
            "ship": False,
            "reason": "no held-out world that the shipped predictor was not fit on",
        }
    ours = float(np.mean([lowo[w]["predictor"]["pairwise_accuracy"] for w in compared]))
    theirs = float(np.mean([shipped[w] for w in compared]))
    p1p = float(
        np.mean([lowo[w]["free_signals"]["mean_p1p"]["pairwise_accuracy"] for w in compared])
    )
    out: dict[str, Any] = {
        "candidate_pairwise": ours,
        "shipped_pairwise": theirs,
        "mean_p1p_pairwise": p1p,
        # the card's tables are rounded (6 digits): a difference under TIE is not a win
        "ship": ours > theirs + TIE and ours > p1p + TIE,
        "reason": (
            f"held-out worlds {compared}: candidate (nested LOWO) {ours:.3f}, shipped {theirs:.3f}"
            f", mean p(1-p) {p1p:.3f}"
        ),
    }
    blank = [w for w in compared if "predictor_without_signals" in lowo[w]]
    if abs(ours - theirs) <= TIE and ours > p1p + TIE and blank == compared:
        ours_b = float(
            np.mean([lowo[w]["predictor_without_signals"]["pairwise_accuracy"] for w in blank])
        )
        shipped_b = shipped_without_signals()
        theirs_b = float(np.mean([shipped_b[w] for w in blank]))
        out.update(
            candidate_pairwise_without_signals=ours_b,
            shipped_pairwise_without_signals=theirs_b,
            ship=ours_b > theirs_b + TIE,
        )
        out["reason"] += (
            f"; a tie with the signals, so without them: candidate {ours_b:.3f}, "
            f"shipped {theirs_b:.3f}"
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worlds", default=str(REPO / "worlds"))
    parser.add_argument("--out", default=str(REPO / "build" / "predictor"))
    parser.add_argument("--docs", default=str(REPO / "docs" / "lift-predictor"))
    parser.add_argument("--shipped", default=str(SHIPPED), help="The predictor to beat/replace.")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    shipped_path = Path(args.shipped)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stores, missing = world_stores(Path(args.worlds))
    if missing:
        print(f"worlds without a store (skipped): {', '.join(missing)}")
    if not stores:
        print("no world stores: nothing to build")
        return 1
    py = [sys.executable, "-m", "datalint"]
    evaluation = out / "evaluation"
    with (out / "evaluation.txt").open("w") as fh:
        subprocess.run([*py, "evaluate", *stores, "-o", str(evaluation)], check=True, stdout=fh)
    candidate = out / "candidate.onnx"
    command = "python scripts/build_predictor_from_worlds.py"
    subprocess.run(
        [*py, "fit", *stores, "-o", str(candidate), "--build-command", command], check=True
    )
    card = json.loads(candidate.with_suffix(".json").read_text())
    sets, _ = load_worlds(stores)
    lowo = (card.get("leave_one_world_out") or {}).get("by_world") or {}
    shipped = shipped_scores(sets, shipped_path) if shipped_path.is_file() else {}
    compared = sorted(set(lowo) & set(shipped))
    decision: dict = {
        "worlds_with_labels": [c.world for c in sets],
        "worlds_without_labels": missing,
        "compared_on": compared,
    }
    decision.update(
        decide(
            len(sets),
            compared,
            lowo,
            shipped,
            lambda: shipped_scores(sets, shipped_path, blank_signals=True),
        )
    )
    if args.force and not decision["ship"]:
        decision["ship"], decision["forced"] = True, True
    (out / "decision.json").write_text(json.dumps(decision, indent=2) + "\n")
    print(json.dumps(decision, indent=2))
    if args.docs:  # the latest measurement is published whether or not it ships
        docs = Path(args.docs) / "worlds"
        docs.mkdir(parents=True, exist_ok=True)
        for name in ("leave-one-world-out.json", "leave-one-world-out.png"):
            if (evaluation / name).is_file():
                shutil.copy(evaluation / name, docs / name)
        shutil.copy(out / "evaluation.txt", docs / "evaluation.txt")
        shutil.copy(out / "decision.json", docs / "decision.json")
    if decision["ship"]:
        shutil.copy(candidate, shipped_path)
        shutil.copy(candidate.with_suffix(".json"), shipped_path.with_suffix(".json"))
        print(f"shipped: {shipped_path}")
    else:
        print(f"kept the shipped predictor: {decision['reason']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
