"""Replay the learned arm's online predictor on a loop's *oracle* rounds (every candidate labelled)
for several refit penalties: the check docs/loop/README.md ran on v1's log before fixing alpha::

    .venv/bin/python bench/loop_replay_gate.py STORE LOOP_HASH [ALPHA ...]  # 10 100 400 1000

For each seed and round r >= 1, the oracle's labels from rounds < r (all of them, and again with one
label per round, hashed from the seed and round: the learned arm's regime) refit the predictor,
which then scores round r's candidates; prints the mean pairwise accuracy of the gated predictor
against the prior's on those candidates, and in how many rounds the gate let the refit score.
"""

from __future__ import annotations

import hashlib
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout

from datalint.loop.draws import pairwise_accuracy
from datalint.loop.predictor import Label, OnlinePredictor, load_prior
from datalint.loop.store import LoopStore


def _one_per_round(labels: list[tuple[int, int, Label]], seed: int) -> list[Label]:
    by_round: dict[int, list[Label]] = defaultdict(list)
    for r, _, label in sorted(labels, key=lambda t: (t[0], t[1])):
        by_round[r].append(label)
    out = []
    for r, group in sorted(by_round.items()):
        k = int(hashlib.sha1(f"{seed}-{r}".encode()).hexdigest(), 16) % len(group)
        out.append(group[k])
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    store, loop_hash = argv[:2]
    alphas = [float(a) for a in argv[2:]] or [10.0, 100.0, 400.0, 1000.0]
    with LoopStore(store) as db:
        runs = [r for r in db.online_runs(loop_hash) if r.arm == "oracle"]
    prior = load_prior(None)
    cells: dict[tuple[int, int], list[tuple[int, int, Label]]] = defaultdict(list)
    for run in runs:
        label = Label(run.record.features, run.record.lift, run.round)
        cells[(run.loop_seed, run.round)].append((run.round, run.candidate, label))
    seeds = sorted({s for s, _ in cells})
    rounds = sorted({r for _, r in cells})
    for mode in ("all labels", "one label a round"):
        for alpha in alphas:
            gated, base, used, n = [], [], 0, 0
            for seed in seeds:
                for r in rounds[1:]:
                    earlier = [t for g in rounds if g < r for t in cells[(seed, g)]]
                    labels = (
                        [t[2] for t in sorted(earlier, key=lambda t: (t[0], t[1]))]
                        if mode == "all labels"
                        else _one_per_round(earlier, seed)
                    )
                    online = OnlinePredictor(prior, labels, min_labels=4, alpha=alpha)
                    if online.gate is None:
                        continue
                    cands = sorted(cells[(seed, r)], key=lambda t: t[1])
                    rows = [t[2].features for t in cands]
                    lifts = [t[2].lift for t in cands]
                    gated.append(pairwise_accuracy(online.predict(rows).tolist(), lifts))
                    base.append(pairwise_accuracy(online.prior_scores(rows).tolist(), lifts))
                    used += online.refitted
                    n += 1
            print(
                f"{mode:18} alpha {alpha:6g}: gated {np.mean(gated):.3f}, prior "
                f"{np.mean(base):.3f}, refit scored {used} of {n} rounds"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
