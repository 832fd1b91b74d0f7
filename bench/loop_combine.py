"""One loop experiment out of two loops in one store that differ only in the learned arm's
predictor settings (``--min-labels``, ``--refit-alpha``, the refit rule): the random, p1p and oracle
arms from BASE_HASH, the learned arm from LEARNED_HASH, written as one log, summary and plots::

    .venv/bin/python bench/loop_combine.py STORE BASE_HASH LEARNED_HASH OUT [--seeds N]

Reusing the other arms is sound because nothing they do reads the learned arm's predictor: random
and p1p pick without it and the oracle trains every candidate and keeps the lowest probe NLL, from
the same base weights, candidate draws and GRPO seeds (a function of the loop seed and round). The
script refuses two loops whose descriptions differ in anything else.

Only the oracle's *scores* came from BASE_HASH's predictor; its rank-accuracy column ("oracle
arm's online predictor") must be that of LEARNED_HASH's. The online predictor is a pure function
of the prior and an arm's labels, so it is replayed here on the oracle's own labels (features and
lifts from the store) exactly as a worker would compute it, and each replayed oracle entry is
marked ``"replayed": true``. The replay is checked first on LEARNED_HASH's own learned rounds: it
must reproduce every logged score and version there, or the script stops.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from loop_tables import tables

from datalint.loop.draws import pairwise_accuracy
from datalint.loop.options import ARMS, PRIOR_ADV_STD
from datalint.loop.predictor import Label, OnlinePredictor, load_prior
from datalint.loop.report import _json_safe, _write_json, plot, summarise
from datalint.loop.run import _prior_id
from datalint.loop.store import LoopStore, OnlineRun, RoundRow

PREDICTOR_KEYS = ("min_labels", "ridge_alpha", "refit")
OTHER_ARMS = ("random", "p1p", "oracle")


def _description(store: LoopStore, loop_hash: str) -> dict[str, Any]:
    row = store._db.execute(
        "SELECT description FROM loop_experiments WHERE loop_hash = ?", (loop_hash,)
    ).fetchone()
    if row is None:
        raise SystemExit(f"no loop {loop_hash} in the store")
    return json.loads(row[0])


def _same_but_predictor(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    diff = [k for k in ("pool_hash", "probe_hash", "base_fingerprint", "base_nll", "prior")
            if a.get(k) != b.get(k)]  # fmt: skip
    sa = {k: v for k, v in a["settings"].items() if k not in PREDICTOR_KEYS}
    sb = {k: v for k, v in b["settings"].items() if k not in PREDICTOR_KEYS}
    return diff + ([f"settings {sa} != {sb}"] if sa != sb else [])


def _labels_by_round(runs: list[OnlineRun], seed: int, arm: str) -> dict[int, list[OnlineRun]]:
    out: dict[int, list[OnlineRun]] = defaultdict(list)
    for run in runs:
        if run.loop_seed == seed and run.arm == arm:
            out[run.round].append(run)
    return out


def _replay(prior, settings, runs_by_round, r):  # type: ignore[no-untyped-def]
    labels = [
        Label(run.record.features, run.record.lift, run.round)
        for g in sorted(runs_by_round)
        if g < r
        for run in sorted(runs_by_round[g], key=lambda x: x.candidate)
    ]
    return OnlinePredictor(
        prior, labels, min_labels=settings["min_labels"], alpha=settings["ridge_alpha"]
    )


def check_replay(prior, settings, rows: list[RoundRow], runs: list[OnlineRun]) -> int:  # type: ignore[no-untyped-def]
    """The replayed learned predictor must score each learned round's chosen candidate as the
    loop did (the only candidate whose features the store keeps) and name the same version."""
    checked = 0
    for row in rows:
        by_round = _labels_by_round(runs, row.loop_seed, "learned")
        online = _replay(prior, settings, by_round, row.round)
        (run,) = by_round[row.round]
        logged = row.entry["candidates"][run.candidate]["predicted"]
        (score,) = online.predict([run.record.features]).tolist()
        if abs(score - logged) > 1e-9 * max(1.0, abs(logged)):
            raise SystemExit(f"replay differs: seed {row.loop_seed} round {row.round}")
        if online.version != row.entry["predictor_version"]:
            raise SystemExit(f"replay version differs: seed {row.loop_seed} round {row.round}")
        checked += 1
    return checked


def replay_oracle(prior, settings, row: RoundRow, runs: list[OnlineRun]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    by_round = _labels_by_round(runs, row.loop_seed, "oracle")
    online = _replay(prior, settings, by_round, row.round)
    entry = json.loads(json.dumps(row.entry))
    trained = sorted(by_round[row.round], key=lambda x: x.candidate)
    scores = online.predict([run.record.features for run in trained]).tolist()
    for run, score in zip(trained, scores, strict=True):
        entry["candidates"][run.candidate]["predicted"] = score
    cands = [c for c in entry["candidates"] if c["realised_lift"] is not None]
    if entry.get("rank_accuracy") and len(cands) >= 2:
        entry["rank_accuracy"]["predicted"] = pairwise_accuracy(
            [c["predicted"] for c in cands], [c["realised_lift"] for c in cands]
        )
    entry["predictor_version"] = online.version
    entry["predictor_reason"] = online.reason
    entry["predictor_gate"] = None if online.gate is None else dataclasses.asdict(online.gate)
    entry["replayed"] = True
    return entry


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store")
    ap.add_argument("base_hash")
    ap.add_argument("learned_hash")
    ap.add_argument("out")
    ap.add_argument("--seeds", type=int, help="only seeds 0..N-1 (default: all stored)")
    args = ap.parse_args(argv)
    with LoopStore(args.store) as store:
        base, learned = (_description(store, h) for h in (args.base_hash, args.learned_hash))
        if diff := _same_but_predictor(base, learned):
            raise SystemExit(f"the two loops differ beyond the learned predictor: {diff}")
        keep = (lambda s: True) if args.seeds is None else (lambda s: s < args.seeds)
        base_rows = [r for r in store.rounds(args.base_hash) if r.arm in OTHER_ARMS]
        learned_rows = [r for r in store.rounds(args.learned_hash) if r.arm == "learned"]
        base_runs = list(store.online_runs(args.base_hash))
        learned_runs = list(store.online_runs(args.learned_hash))
    settings = learned["settings"]
    if learned["prior"] not in (PRIOR_ADV_STD, _prior_id(None)):
        raise SystemExit(f"replays only the shipped predictor or adv_std, not {learned['prior']}")
    prior = load_prior(PRIOR_ADV_STD if learned["prior"] == PRIOR_ADV_STD else None)
    checked = check_replay(prior, settings, learned_rows, learned_runs)
    rows = [r for r in learned_rows if keep(r.loop_seed)]
    for r in base_rows:
        if not keep(r.loop_seed):
            continue
        entry = replay_oracle(prior, settings, r, base_runs) if r.arm == "oracle" else r.entry
        rows.append(RoundRow(r.loop_seed, r.arm, r.round, r.checkpoint, r.nll_before,
                             r.nll_after, entry))  # fmt: skip
    seeds = 1 + max(r.loop_seed for r in rows)
    rounds = 1 + max(r.round for r in rows)
    k = settings["candidates"]
    opts = SimpleNamespace(arms=ARMS, rounds=rounds, seeds=seeds, candidates=k)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows, opts, base["base_nll"])
    summary["combined_from"] = {
        "learned": args.learned_hash,
        "random, p1p, oracle": args.base_hash,
        "oracle predictor": "replayed with the learned loop's settings",
        "replay_checked_on_learned_rounds": checked,
    }
    log = {
        "loop_hash": {"learned": args.learned_hash, "random, p1p, oracle": args.base_hash},
        "base_nll": base["base_nll"],
        "base_fingerprint": base["base_fingerprint"],
        "settings": settings,
        "rounds": [r.entry for r in sorted(rows, key=lambda r: (r.loop_seed, r.round, r.arm))],
    }
    _write_json(out / "loop-log.json", log)
    _write_json(out / "loop-summary.json", _json_safe(summary))
    plot(summary, rows, out, opts, base["base_nll"])
    print(tables(summary), end="")
    print(f"\nreplay reproduced all {checked} learned rounds' scores and versions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
