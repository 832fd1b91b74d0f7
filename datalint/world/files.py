"""A world's data files: its calibration cohorts, its probe and its pretraining text, as records.

Everything is drawn from the world's fixed seeds, so rebuilding writes the same files byte for
byte. Records follow the item schema; the question is written in the world's prompt format
(``prompt`` for bare and padded worlds, chat ``messages`` for chat worlds).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from datalint.world.formats import model_text, record_fields
from datalint.world.generate import (
    PretrainExample,
    WorldCohort,
    draw_problem,
    make_cohorts,
    pretraining_examples,
)
from datalint.world.registry import WorldSpec
from datalint.world.subjects import MAX_LEVEL, SHARED_SLIPS, Problem


def world_pretraining(spec: WorldSpec, n: int | None = None) -> list[PretrainExample]:
    return pretraining_examples(
        spec.pretrain.n_examples if n is None else n,
        seed=spec.seeds.pretrain,
        subjects=spec.subjects,
        habit_share=spec.habit_share_by_level,
        level_weights=spec.level_weights,
        shared_slip=SHARED_SLIPS[spec.shared_slip],
    )


def world_cohorts(spec: WorldSpec) -> list[WorldCohort]:
    """The calibration cohorts: mixed difficulty, one subject each, about 10% scrambled."""
    return make_cohorts(
        spec.n_cohorts,
        spec.subjects,
        spec.seeds.cohorts,
        size=spec.cohort_size,
        scrambled_share=spec.scrambled_share,
        prefix="cal",
        shared_slip=SHARED_SLIPS[spec.shared_slip],
    )


def world_problem(spec: WorldSpec, rng: random.Random, subject: str, level: int) -> Problem:
    return draw_problem(rng, subject, level, SHARED_SLIPS[spec.shared_slip])


def probe_problems(spec: WorldSpec) -> list[Problem]:
    """``probe_per_cell`` distinct problems for every subject and level, from the probe seed
    (world 0: exactly ``examples/probe.jsonl``, which ``scripts/build_examples.py`` draws)."""
    rng = random.Random(spec.seeds.probe)
    taken: set[str] = set()
    out: list[Problem] = []
    for subject in spec.subjects:
        for level in range(1, MAX_LEVEL + 1):
            for _ in range(spec.probe_per_cell):
                problem = world_problem(spec, rng, subject, level)
                while problem.prompt in taken:
                    problem = world_problem(spec, rng, subject, level)
                taken.add(problem.prompt)
                out.append(problem)
    return out


def item_record(
    spec: WorldSpec, problem: Problem, answer: str, item_id: str, **extra: Any
) -> dict[str, Any]:
    meta = {"level": problem.level, "world": spec.name, **extra.pop("meta", {})}
    return {
        "id": item_id,
        **record_fields(problem.prompt, spec.prompt_format),
        "answer": answer,
        "subject": problem.subject,
        "verifier": "exact",
        **extra,
        "meta": meta,
    }


def cohort_records(spec: WorldSpec, cohort: WorldCohort) -> Iterator[dict[str, Any]]:
    for j, (problem, answer) in enumerate(zip(cohort.problems, cohort.answers(), strict=True)):
        yield item_record(
            spec, problem, answer, f"{cohort.id}-{j}", cohort=cohort.id, meta={"kind": cohort.kind}
        )


def probe_records(spec: WorldSpec) -> list[dict[str, Any]]:
    return [
        item_record(spec, p, p.answer, f"probe-{i:03d}") for i, p in enumerate(probe_problems(spec))
    ]


def policy_prompt(spec: WorldSpec, problem: Problem) -> str:
    """The text the world's policy is prompted with for ``problem`` (before BOS)."""
    return model_text(problem.prompt, spec.prompt_format)


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, sort_keys=False) + "\n")
            n += 1
    return n
