"""Items -> cohorts -> rollouts -> grades -> the 23 features: the one path that both `check` and
`calibrate` take, so the features a predictor is trained on are exactly the ones it is fed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datalint.cohorts import make_cohorts
from datalint.engine import Gate
from datalint.findings import CohortReport
from datalint.load.records import Cohort, Item
from datalint.rollout.base import SamplingParams


@dataclass(slots=True)
class CohortMeasurement:
    cohorts: list[Cohort]
    reports: list[CohortReport]
    similarity_method: str | None  # "minilm" | "char-ngram" | None without a probe


def measure_cohorts(
    items: list[Item],
    *,
    cohort_size: int,
    params: SamplingParams,
    backend: str,
    model: str | None,
    rollouts_file: str | None,
    cache_dir: str | None,
    use_cache: bool,
    progress: bool,
    probe_items: list[Item] | None,
    default_verifier: str,
    gate: Gate,
    trust_rollouts: bool = False,
    served: Any = None,
) -> CohortMeasurement:
    from datalint.reward_stage import evaluate_cohorts
    from datalint.rollout.stage import obtain_rollouts

    cohorts = make_cohorts(items, cohort_size)
    ordered = [it for c in cohorts for it in c.items]
    rollouts = obtain_rollouts(
        ordered,
        backend_name=backend,
        model=model,
        params=params,
        rollouts_file=rollouts_file,
        cache_dir=cache_dir,
        use_cache=use_cache,
        progress=progress,
        trust_inline=trust_rollouts,
        served=served,
    )
    per_cohort, start = [], 0
    for cohort in cohorts:  # `ordered` is the cohorts' items back to back
        per_cohort.append(rollouts[start : start + len(cohort.items)])
        start += len(cohort.items)

    similarity: dict[str, float] | None = None
    method: str | None = None
    if probe_items:
        from datalint.similarity import cohort_similarities

        similarity, method = cohort_similarities(
            {c.id: [it.prompt_text for it in c.items] for c in cohorts},
            [it.prompt_text for it in probe_items],
        )
    reports = evaluate_cohorts(
        cohorts, per_cohort, gate, similarity=similarity, default_verifier=default_verifier
    )
    return CohortMeasurement(cohorts, reports, method)
