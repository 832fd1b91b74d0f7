"""Where every world stands: pretrained?, world check, labels n/planned, throughput, time left.

    .venv/bin/python scripts/world_status.py            # a markdown table (docs/worlds/PLAN.md)
    .venv/bin/python scripts/world_status.py --json

Reads ``worlds/*/`` only (read-only SQLite for the stores, so it is safe while labelling runs).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datalint.world.registry import WORLDS, WorldSpec  # noqa: E402


def store_progress(path: Path) -> dict:
    if not path.exists():
        return {"runs": 0}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        runs, mean_s, first, last = con.execute(
            "SELECT COUNT(*), AVG(total_s), MIN(created_at), MAX(created_at) FROM runs"
        ).fetchone()
    finally:
        con.close()
    out = {"runs": runs, "mean_run_seconds": round(mean_s, 2) if mean_s else None}
    if runs and runs > 1 and first and last:
        span = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
        out["runs_per_second_wall"] = round((runs - 1) / span, 4) if span > 0 else None
    return out


def world_status(spec: WorldSpec) -> dict:
    wdir = ROOT / "worlds" / spec.name
    policy = ROOT / spec.prebuilt if spec.prebuilt else wdir / "policy"
    training = policy / "training.json"
    status: dict = {"world": spec.name, "pretrained": training.exists()}
    if training.exists():
        record = json.loads(training.read_text("utf-8"))
        status["n_params"] = record.get("n_params")
        status["pretrain_seconds"] = record.get("train_seconds")
    check = wdir / "world-check.json"
    if check.exists():
        result = json.loads(check.read_text("utf-8"))
        status["check"] = {
            "passed": result["passed"],
            "frontier": result["mean_nll_lift_by_kind"]["frontier"],
            "scrambled": result["mean_nll_lift_by_kind"]["scrambled"],
            "corr_disagreement_lift": result["corr_disagreement_lift_unscrambled"],
            "seed_agreement": result.get("seed_agreement"),
        }
    planned = spec.n_cohorts * spec.label_seeds
    progress = store_progress(wdir / "store.sqlite")
    status["labels"] = {"done": progress["runs"], "planned": planned, **progress}
    del status["labels"]["runs"]
    return status


def _fmt(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:+.{digits}f}"


def markdown(rows: list[dict]) -> str:
    lines = [
        "| world | pretrained | params | check | frontier lift | scrambled lift | "
        "corr(disagree, lift) | labels | s/run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r.get("check")
        verdict = "-" if c is None else ("passed" if c["passed"] else "FAILED")
        lab = r["labels"]
        lines.append(
            f"| {r['world']} | {'yes' if r['pretrained'] else 'no'} | {r.get('n_params') or '-'} | "
            f"{verdict} | {_fmt(c and c['frontier'])} | {_fmt(c and c['scrambled'])} | "
            f"{_fmt(c and c['corr_disagreement_lift'], 2)} | {lab['done']}/{lab['planned']} | "
            f"{lab.get('mean_run_seconds') or '-'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = [world_status(w) for w in WORLDS]
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
