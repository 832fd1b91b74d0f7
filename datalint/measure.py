"""Items -> cohorts -> rollouts -> grades -> the 23 features: the one path that both `check` and
`calibrate` take, so the features a predictor is trained on are exactly the ones it is fed.

Items whose prompt the model cannot read (over its context, outside its vocabulary) are reported
(S022 / S023) and left out of their cohort's features: their empty rollouts say nothing about the
data. A cohort with no readable item left is not measured at all (``unjudged``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from datalint.cohorts import make_cohorts
from datalint.engine import Gate
from datalint.findings import CohortReport
from datalint.grade.settings import Grading
from datalint.load.records import Cohort, Item, Rollout
from datalint.rollout.base import SamplingParams

if TYPE_CHECKING:
    from datalint.rollout.backends import ModelOptions
    from datalint.rollout.readable import Unreadable
    from datalint.rollout.stage import RolloutStats


@dataclass(slots=True)
class CohortMeasurement:
    cohorts: list[Cohort]
    reports: list[CohortReport]
    similarity_method: str | None  # "minilm" | "char-ngram" | None without a probe
    unreadable: list[tuple[Item, Unreadable]] = field(default_factory=list)
    unjudged: list[Cohort] = field(default_factory=list)  # no readable item left: no features
    n_sampled: int = 0  # items sent to a backend (not replayed)
    # the rollouts' model (backend or --rollouts header); None when every item replayed inline
    model_fingerprint: str | None = None
    rollouts: list[list[list[Rollout]]] = field(default_factory=list)  # per cohort, per item
    rollout_stats: RolloutStats | None = None
    # why the gradient signals are missing or partial (None: computed in full, or not asked)
    signal_note: str | None = None
    # the probe NLL at the base weights, from the gradient signals' probe pass (None without)
    probe_nll: float | None = None


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
    grading: Grading | None = None,
    model_options: ModelOptions | None = None,
    served: Any = None,
    adaptive_k: bool = False,
    adaptive_first: int = 2,
    adaptive_budget: float = 0.5,
    gradient_signals: bool = False,
) -> CohortMeasurement:
    """``grading`` (config verifiers, extraction) wins over ``default_verifier`` when given.

    ``adaptive_k``: each item's group under :mod:`datalint.rollout.adaptive`'s rule (2, then
    more where the full group is still open, within ``adaptive_budget`` of fixed k's
    rollouts); each cohort report's ``sampling`` records the budget.

    ``gradient_signals``: each report's ``signals`` get :mod:`datalint.signals.grad_align`'s
    gradient alignment with the probe, when it can be computed (see ``can_align``).
    """
    from datalint.reward_stage import evaluate_cohorts
    from datalint.rollout.stage import RolloutStats, obtain_rollouts

    cohorts = make_cohorts(items, cohort_size)
    ordered = [it for c in cohorts for it in c.items]
    stats = RolloutStats()
    grading = grading or Grading(default_verifier=default_verifier)
    calls: list[RolloutStats] = []

    def obtain(
        some: list[Item],
        sampling: SamplingParams,
        prefixes: list[list[Rollout]] | None = None,
    ) -> list[list[Rollout]]:
        calls.append(stats if not calls else RolloutStats())  # the first call sees every item
        return obtain_rollouts(
            some,
            backend_name=backend,
            model=model,
            params=sampling,
            rollouts_file=rollouts_file,
            cache_dir=cache_dir,
            use_cache=use_cache,
            progress=progress,
            trust_inline=trust_rollouts,
            stats=calls[-1],
            model_options=model_options,
            served=served,
            prefixes=prefixes,
        )

    budget = None
    if adaptive_k:
        from datalint.rollout.adaptive import adaptive_rollouts
        from datalint.rollout.backends import PREFIX_STABLE

        rollouts, budget = adaptive_rollouts(
            ordered,
            params,
            obtain,
            grading,
            first=adaptive_first,
            budget=adaptive_budget,
            extends=rollouts_file is None and backend in PREFIX_STABLE,
        )
    else:
        rollouts = obtain(ordered, params)
    unreadable = [(ordered[i], why) for i, why in sorted(stats.unreadable.items())]
    for item, why in unreadable:
        report_unreadable(gate, item, why)
    per_cohort, readable, unjudged, kept, start = [], [], [], [], 0
    for cohort in cohorts:  # `ordered` is the cohorts' items back to back
        span = range(start, start + len(cohort.items))
        start += len(cohort.items)
        keep = [i for i in span if i not in stats.unreadable]
        if not keep:
            unjudged.append(cohort)
            continue
        readable.append(Cohort(cohort.id, [ordered[i] for i in keep]))
        kept.append(keep)
        per_cohort.append([rollouts[i] for i in keep])
    cohorts = readable

    similarity: dict[str, float] | None = None
    method: str | None = None
    if probe_items:
        from datalint.similarity import cohort_similarities

        similarity, method = cohort_similarities(
            {c.id: [it.prompt_text for it in c.items] for c in cohorts},
            [it.prompt_text for it in probe_items],
        )
    reports = evaluate_cohorts(
        cohorts,
        per_cohort,
        gate,
        similarity=similarity,
        grading=grading,
        probe_items=probe_items,
        groups=None
        if budget is None
        else [[partial(budget.group, i) for i in keep] for keep in kept],
    )
    if budget is not None:
        for report, keep in zip(reports, kept, strict=True):
            report.sampling = budget.provenance(keep)
    signal_note, probe_nll = None, None
    if gradient_signals and can_align(backend, rollouts_file, probe_items) and cohorts:
        from datalint.rollout.backends import ModelOptions, resolve_model
        from datalint.signals.grad_align import SignalsUnavailable, measure_alignments

        how = model_options or ModelOptions()
        try:
            signals, signal_note, probe_nll = measure_alignments(
                resolve_model(model),
                cohorts,
                per_cohort,
                probe_items or [],
                how.system_prompt,
                how.device,
            )
        except SignalsUnavailable as exc:
            signals, signal_note = [{} for _ in cohorts], str(exc)
        for report, values in zip(reports, signals, strict=True):
            report.signals.update(values)
    n_sampled = len(ordered) - stats.replayed
    measurement = CohortMeasurement(
        cohorts,
        reports,
        method,
        unreadable,
        unjudged,
        n_sampled,
        stats.fingerprint,
        per_cohort,
        stats,
    )
    measurement.signal_note = signal_note
    measurement.probe_nll = probe_nll
    return measurement


def can_align(backend: str, rollouts_file: str | None, probe_items: list[Item] | None) -> bool:
    """Gradient alignment needs a probe, and rollouts sampled here by a local model (its
    weights to differentiate): not a served model, not a file of another model's rollouts."""
    return bool(probe_items) and backend in ("transformers", "vllm") and rollouts_file is None


def report_unreadable(gate: Gate, item: Item, why: Unreadable) -> None:
    """S022 (does not fit the context) and S023 (outside the vocabulary) at the item's line."""
    cohort = item.cohort
    if why.overflows:
        gate.observe(
            "prompt_does_not_fit", 1, item.source, cohort=cohort, detail=why.context_detail()
        )
    if why.unknown:
        gate.observe(
            "prompt_unknown_tokens",
            why.unknown,
            item.source,
            cohort=cohort,
            detail=why.vocabulary_detail(),
        )
