"""Swap one arm of a loop experiment for the same arm of another run over the same pool, probe,
base model and seeds (so the same candidate draws and GRPO seeds), and print the comparison
tables: e.g. the learned arm with its refit turned off (``--arms learned --min-labels 999``)::

    .venv/bin/python bench/loop_ablation.py build/loop/run/loop-log.json \\
        build/loop/prior-only/loop-log.json learned
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from loop_tables import tables

from datalint.loop.options import ARMS
from datalint.loop.report import summarise
from datalint.loop.store import RoundRow


def rows_of(log: dict, keep: set[str]) -> list[RoundRow]:
    return [
        RoundRow(
            e["seed"], e["arm"], e["round"], e["checkpoint"], e["nll_before"], e["nll_after"], e
        )
        for e in log["rounds"]
        if e["arm"] in keep
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    main_log, other_log = (json.loads(Path(p).read_text("utf-8")) for p in argv[:2])
    arm = argv[2]
    if main_log["base_fingerprint"] != other_log["base_fingerprint"]:
        print("the two runs start from different base models", file=sys.stderr)
        return 2
    rows = rows_of(main_log, set(ARMS) - {arm}) + rows_of(other_log, {arm})
    seeds = 1 + max(r.loop_seed for r in rows)
    rounds = 1 + max(r.round for r in rows)
    k = len(rows[0].entry["candidates"])
    opts = SimpleNamespace(arms=ARMS, rounds=rounds, seeds=seeds, candidates=k)
    print(tables(summarise(rows, opts, main_log["base_nll"])), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
