"""Where T001's threshold comes from: target_similarity of tiny-world cohorts and of prose.

    .venv/bin/python bench/similarity_threshold.py

Probe: 16 problems from each of four of the world's five subjects; cohorts: 200 generated
cohorts of 4 problems over all five subjects, so one subject is unseen by the probe, plus
cohorts of unrelated prose. Prints min / mean / max per subject for each embedder.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datalint.similarity import METHODS, cohort_similarities, minilm_available
from datalint.world import MAX_LEVEL, SUBJECTS, draw_problem, make_cohorts

PROSE = [
    "What is the capital of France?",
    "Name a primary colour.",
    "Who wrote Hamlet?",
    "Translate 'dog' into German.",
]


def main() -> None:
    subjects = list(SUBJECTS)
    rng = random.Random(1)
    probe = [
        draw_problem(rng, s, rng.randint(1, MAX_LEVEL)).prompt
        for s in subjects[:-1]
        for _ in range(16)
    ]
    cohorts = make_cohorts(200, subjects, seed=3)
    prompts = {c.id: [p.prompt for p in c.problems] for c in cohorts}
    label = {c.id: c.problems[0].subject for c in cohorts}
    prompts["prose"] = PROSE
    label["prose"] = "prose"
    print(f"probe subjects: {', '.join(subjects[:-1])}; held out: {subjects[-1]}")
    for method in METHODS[1:]:
        if method == "minilm" and not minilm_available():
            print("minilm: skipped (the 'embed' extra is not installed)")
            continue
        start = time.perf_counter()
        scores, used = cohort_similarities(prompts, probe, method)
        seconds = time.perf_counter() - start
        by_label: dict[str, list[float]] = {}
        for cid, value in scores.items():
            by_label.setdefault(label[cid], []).append(value)
        print(f"{used} ({seconds:.1f} s including model load)")
        for name, values in by_label.items():
            mean = sum(values) / len(values)
            print(f"  {name:>6}: min {min(values):.3f}  mean {mean:.3f}  max {max(values):.3f}")


if __name__ == "__main__":
    main()
