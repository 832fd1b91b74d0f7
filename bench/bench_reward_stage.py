"""Throughput of the reward stage (grading + 23 features + diagnostics + rules) on replayed data.

    .venv/bin/python bench/bench_reward_stage.py [N_ITEMS]

Synthetic tiny-world items (answers like "123", half the rollouts right), 8 rollouts each with a
logprob and an entropy per character, in cohorts of 4, against every shipped rule. Also times
target_similarity for the same prompts against a 64-prompt probe, for each available embedder.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datalint.engine import Gate
from datalint.load.records import Cohort, Item, Rollout, Source
from datalint.reward_stage import evaluate_cohorts
from datalint.rulebook import load_rules
from datalint.similarity import cohort_similarities, minilm_available


def synthetic_cohorts(n_items: int, rng: random.Random) -> list[Cohort]:
    cohorts = []
    for c in range(n_items // 4):
        items = []
        for j in range(4):
            a, b = rng.randint(10, 999), rng.randint(10, 999)
            answer = str(a + b)
            rollouts = [
                Rollout(
                    answer if rng.random() < 0.5 else answer + "1",
                    logprobs=[-rng.random() for _ in range(len(answer) + 1)],
                    entropies=[rng.random() for _ in range(len(answer) + 1)],
                )
                for _ in range(8)
            ]
            source = Source("bench.jsonl", c * 4 + j + 1)
            items.append(Item(source, answer, prompt=f"{a}+{b}=", rollouts=rollouts))
        cohorts.append(Cohort(f"c{c}", items))
    return cohorts


def main() -> None:
    n_items = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rng = random.Random(0)
    cohorts = synthetic_cohorts(n_items, rng)
    gate = Gate(load_rules())
    start = time.perf_counter()
    evaluate_cohorts(cohorts, None, gate)
    seconds = time.perf_counter() - start
    print(
        f"reward stage: {n_items} items x 8 rollouts in {seconds:.3f} s "
        f"({n_items / seconds:.0f} items/s, {1e6 * seconds / n_items:.0f} us per item)"
    )
    prompts = {c.id: [it.prompt_text for it in c.items] for c in cohorts}
    probe = [f"{rng.randint(10, 999)}+{rng.randint(10, 999)}=" for _ in range(64)]
    methods = ["char-ngram"] + (["minilm"] if minilm_available() else [])
    for method in methods:
        cohort_similarities({"warm": probe[:1]}, probe[:1], method)  # load the model once
        start = time.perf_counter()
        cohort_similarities(prompts, probe, method)
        seconds = time.perf_counter() - start
        print(f"similarity ({method}): {n_items} prompts in {seconds:.3f} s after model load")


if __name__ == "__main__":
    main()
