"""The ``check`` pipeline as one straight line: load -> static -> cohorts -> rollouts -> grading
-> features -> prediction -> rules -> report. Each stage lives in its own module; this one only
wires them together and decides which model-based stages can run.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datalint.engine import Gate
from datalint.extras import MissingExtra
from datalint.findings import CohortReport, Report, Summary
from datalint.load import (
    DEFAULT_MAX_LINE_BYTES,
    ROLLOUTS_FILE_NOTE,
    FileStats,
    InputError,
    discover_files,
    iter_items,
)
from datalint.load.records import Cohort, Item, Rollout
from datalint.rollout.trust import untrusted_rollouts_note
from datalint.rulebook import Rule

if TYPE_CHECKING:
    from datalint.grade.settings import Grading
    from datalint.predict import LiftPredictor
    from datalint.predict.linear_range import LinearRange
    from datalint.rollout.stage import RolloutStats

LEVEL_ORDER = {"error": 0, "warning": 1}


@dataclass(slots=True)
class CheckOptions:
    paths: list[str]
    fields: dict[str, str] | None = None  # explicit field mapping ([fields] / --field)
    probe: str | None = None
    rollouts_file: str | None = None
    trust_rollouts: bool = False
    backend: str = "transformers"
    model: str | None = None
    rollouts_per_item: int = 8
    adaptive_k: bool = False  # 2 rollouts per item, more where the full group is still open
    adaptive_first: int = 2
    gradient_signals: bool | None = None  # None: when the predictor takes them
    adaptive_budget: float = 0.5  # the most rollouts adaptive k spends, a share of fixed k's
    temperature: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0
    cohort_size: int = 4
    default_verifier: str = "exact"
    grading: Grading | None = None  # default verifier, [verifiers], extraction; else the default
    static_only: bool = False
    require_model: bool = False
    use_cache: bool = True
    cache_dir: str | None = None
    predictor: str | None = None
    fail_under: float | None = None
    progress: bool = False
    dtype: str = "float32"
    device: str = "auto"
    system_prompt: str | None = None
    served: Any = None  # OpenAISettings for --backend openai


Notify = Callable[[str], None]


def _stderr_note(message: str) -> None:
    print(f"datalint: {message}", file=sys.stderr)


@dataclass(slots=True)
class CheckTrace:
    """What a check saw, kept for the commands that act on it (``select``, provenance): every
    valid item read (in file order), the measured cohorts with their reports (parallel lists),
    each measured item's rollouts (graded: ``Rollout.reward`` holds the grade) and where the
    rollouts came from. Filled only when a caller passes one to :func:`run_check`."""

    items: list[Item] = field(default_factory=list)
    cohorts: list[Cohort] = field(default_factory=list)
    reports: list[CohortReport] = field(default_factory=list)
    rollouts: dict[int, list[Rollout]] = field(default_factory=dict)  # id(item) -> rollouts
    rollout_stats: RolloutStats | None = None
    files: list[FileStats] = field(default_factory=list)


def run_check(
    opts: CheckOptions,
    rules: tuple[Rule, ...],
    notify: Notify = _stderr_note,
    trace: CheckTrace | None = None,
) -> Report:
    from datalint.grade.preflight import problem
    from datalint.grade.settings import Grading
    from datalint.load import read_items_quietly
    from datalint.static.base import build_static_checks, skip_notes

    grading = opts.grading or Grading(default_verifier=opts.default_verifier)
    gate = Gate(rules)
    files = discover_files(opts.paths, exclude=[opts.rollouts_file] if opts.rollouts_file else [])
    probe_items = read_items_quietly(opts.probe) if opts.probe else None
    max_line = max_line_bytes(rules)
    static_checks = build_static_checks(gate, probe_items=probe_items, grading=grading)
    for line in skip_notes(static_checks):
        notify(line)

    plan = _model_plan(opts)
    predictor = None if opts.static_only else _load_predictor(opts.predictor)
    retained: list[Item] = []
    stats: list[FileStats] = []
    n_items = n_untrusted = n_ungradable = 0
    for item in iter_items(files, gate, max_line_bytes=max_line, stats=stats, fields=opts.fields):
        n_items += 1
        if trace is not None:
            trace.items.append(item)
        for check in static_checks:
            check.feed(item, gate)
        if item.rollouts is not None and not opts.trust_rollouts and not opts.static_only:
            item.rollouts = None  # the vendor's rollouts are claims; sample our own
            n_untrusted += 1
        if not (plan.keep_all or (plan.keep_inline and item.rollouts is not None)):
            continue
        if problem(item, grading) is not None:  # S012/S013/S014: no rollout is spent on it
            n_ungradable += 1
            continue
        retained.append(item)
    if n_untrusted:
        notify(untrusted_rollouts_note(n_untrusted))
    for check in static_checks:
        check.finish(gate)
    if n_ungradable:
        notify(
            f"{n_ungradable} items left out of sampling: their verifier or gold answer "
            "cannot grade them (S012/S013/S014)"
        )
    for file_stats in stats:
        if file_stats.skipped == ROLLOUTS_FILE_NOTE:
            notify(f"skipped {file_stats.path}: {file_stats.skipped}")
        for note in file_stats.notes:
            notify(f"{file_stats.path}: {note}")

    skipped: list[str] = []
    if opts.static_only:
        skipped.append("rollouts, features and prediction (--static-only)")
    elif plan.no_backend_reason and len(retained) + n_ungradable < n_items:
        if opts.require_model:
            raise MissingExtra("hf", "--require-model needs a policy model to sample rollouts")
        what = (
            "rollouts, features and prediction"
            if not retained
            else (
                f"rollouts for the {n_items - len(retained) - n_ungradable} items without "
                "inline rollouts"
            )
        )
        skipped.append(f"{what}: {plan.no_backend_reason}")
    result = _ModelResult([], None, None, None)
    if retained:
        assert predictor is not None
        result = _model_stages(retained, opts, grading, gate, probe_items, predictor, notify, trace)
        skipped.extend(result.unjudged)

    if trace is not None:
        trace.files = stats
    findings = sorted(gate.findings, key=lambda f: (f.path, f.line, LEVEL_ORDER[f.level], f.code))
    n_errors = sum(f.level == "error" for f in findings)
    n_warnings = len(findings) - n_errors
    lift_score = result.lift_score
    below = opts.fail_under is not None and lift_score is not None and lift_score < opts.fail_under
    if opts.fail_under is not None and lift_score is None:
        notify("--fail-under not applied: no lift score without the model stages")
    summary = Summary(
        passed=n_errors == 0 and not below,
        n_files=len(stats),
        n_items=n_items,
        n_errors=n_errors,
        n_warnings=n_warnings,
        lift_score=lift_score,
        fail_under=opts.fail_under,
        predictor=result.predictor,
        similarity=result.similarity,
        skipped_stages=skipped,
        predictor_domain=result.domain,
    )
    return Report(findings=findings, cohorts=result.cohorts, summary=summary)


def max_line_bytes(rules: tuple[Rule, ...]) -> int:
    """The loader's limit is the threshold of the line-length rule (one number, one place)."""
    for rule in rules:
        if rule.feature == "line_bytes":
            return int(rule.threshold)
    return DEFAULT_MAX_LINE_BYTES


@dataclass(slots=True)
class _ModelPlan:
    keep_all: bool  # a backend (or a rollouts file) serves every item
    keep_inline: bool  # items with inline rollouts are replayed
    no_backend_reason: str | None = None


def _model_plan(opts: CheckOptions) -> _ModelPlan:
    if opts.static_only:
        return _ModelPlan(False, False)
    if opts.rollouts_file:
        return _ModelPlan(True, True)
    if opts.backend == "openai":  # the server samples: nothing heavy here
        return _ModelPlan(True, True)
    if opts.backend == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise MissingExtra("vllm", "--backend vllm")
        return _ModelPlan(True, True)
    if importlib.util.find_spec("torch") and importlib.util.find_spec("transformers"):
        return _ModelPlan(True, True)
    reason = (
        "no policy backend, the 'hf' extra is not installed (pip install 'datalint[hf]'); "
        "pass --rollouts FILE or put rollouts in the data to lint without one"
    )
    return _ModelPlan(False, True, reason)


@dataclass(slots=True)
class _ModelResult:
    cohorts: list[CohortReport]
    predictor: str | None
    similarity: str | None
    lift_score: float | None
    unjudged: list[str] = field(default_factory=list)  # cohorts the model could not read
    domain: dict | None = None  # summary.predictor_domain


def _model_stages(
    items: list[Item],
    opts: CheckOptions,
    grading: Grading,
    gate: Gate,
    probe_items: list[Item] | None,
    predictor: LiftPredictor,
    notify: Notify,
    trace: CheckTrace | None = None,
) -> _ModelResult:
    from datalint.measure import measure_cohorts
    from datalint.reward_stage import describe_lines
    from datalint.rollout.backends import ModelOptions
    from datalint.rollout.base import SamplingParams

    params = SamplingParams(
        n=opts.rollouts_per_item,
        temperature=opts.temperature,
        max_new_tokens=opts.max_new_tokens,
        seed=opts.seed,
    )
    measured = measure_cohorts(
        items,
        cohort_size=opts.cohort_size,
        params=params,
        backend=opts.backend,
        model=opts.model,
        rollouts_file=opts.rollouts_file,
        cache_dir=opts.cache_dir,
        use_cache=opts.use_cache,
        progress=opts.progress,
        probe_items=probe_items,
        default_verifier=grading.default_verifier,
        grading=grading,
        gate=gate,
        adaptive_k=opts.adaptive_k,
        adaptive_first=opts.adaptive_first,
        adaptive_budget=opts.adaptive_budget,
        trust_rollouts=opts.trust_rollouts,
        model_options=ModelOptions(opts.dtype, opts.device, opts.system_prompt),
        served=opts.served,
        gradient_signals=(
            predictor.uses_signals if opts.gradient_signals is None else opts.gradient_signals
        ),
    )
    _refuse_unreadable_default(opts, len(measured.unreadable), measured.n_sampled)
    if trace is not None:
        trace.cohorts, trace.reports = measured.cohorts, measured.reports
        trace.rollout_stats = measured.rollout_stats
        for cohort, per_item in zip(measured.cohorts, measured.rollouts, strict=True):
            for item, rollouts in zip(cohort.items, per_item, strict=True):
                trace.rollouts[id(item)] = list(rollouts)
    unjudged = [
        f"features and prediction of cohort {c.id} ({describe_lines(c.sources)}): the model "
        "can read none of its prompts (S022/S023)"
        for c in measured.unjudged
    ]
    cohorts, reports = measured.cohorts, measured.reports
    if not cohorts:
        return _ModelResult([], None, measured.similarity_method, None, unjudged)
    if measured.signal_note:
        notify(f"note: gradient signals: {measured.signal_note}")
    if predictor.uses_signals and any(not r.signals for r in reports):
        notify(_missing_signals_note(predictor.name, opts, measured.signal_note))
    verdict = _linear_range(predictor, reports, measured.probe_nll)
    outside = verdict is not None and verdict.in_linear_range is False
    if verdict is not None and outside and predictor.uses_signals:
        from datalint.predict.linear_range import outside_note

        notify(outside_note(predictor.name, verdict))
    # outside their linear range the signals are measured and reported, never fed
    rows = [dict(r.features) if outside else r.predictor_row() for r in reports]
    signals_fed = not outside and all(r.signals for r in reports)
    if opts.adaptive_k and predictor.uses_signals and signals_fed:
        notify(ADAPTIVE_SIGNALS_NOTE.format(name=predictor.name))
    predictions, low, high = predictor.predict_with_interval(rows)
    for i, (report, cohort, lift) in enumerate(zip(reports, cohorts, predictions, strict=True)):
        report.predicted_lift = float(lift)
        if low is not None and high is not None:
            report.predicted_lift_interval = (float(low[i]), float(high[i]))
        first = cohort.items[0].source
        gate.observe("predicted_lift", float(lift), first, cohort=cohort.id, cohort_id=cohort.id)
    lift_score = predictor.dataset_lift_score(predictions, [len(c.items) for c in cohorts])
    if predictor.is_fallback:
        notify(f"no lift predictor found; scoring with {predictor.name}")
    domain = None
    if not predictor.is_fallback:
        lift_score, domain = _domain(
            predictor, measured.model_fingerprint, reports, lift_score, signals_fed
        )
        domain["gradient_signals"] = (
            verdict.as_dict(used=predictor.uses_signals and signals_fed) if verdict else None
        )
        if low is not None:
            domain["interval"] = (
                "scaled by this dataset's spread of predictions (first-order line)"
                if predictor.interval_scaled
                else "quantile trees"
            )
        if domain["in_domain"] is False:
            notify(_domain_note(predictor.name, domain))
        elif domain["in_domain"] is None:
            notify(f"note: {predictor.name}: {domain['reason']}")
        trained_with = predictor.similarity_method
        if trained_with and measured.similarity_method:
            domain["similarity"] = {"predictor": trained_with, "check": measured.similarity_method}
            if trained_with not in (measured.similarity_method, "unknown"):
                notify(
                    f"note: {predictor.name} was fit on target_similarity from {trained_with}, "
                    f"this check computed it with {measured.similarity_method}: the scales differ"
                )
    return _ModelResult(
        reports, predictor.name, measured.similarity_method, lift_score, unjudged, domain
    )


# measured by bench/bench_adaptive.py on world0's 300 labelled cohorts (docs/features.md)
ADAPTIVE_SIGNALS_NOTE = (
    "note: {name} reads gradient signals, and --adaptive-k takes them on fewer rollouts per "
    "problem: measured on world0, its ranking fell from 0.740 to 0.645 pairwise at budget 0.5 "
    "(fixed k at another seed: 0.717); drop --adaptive-k where the lift ranking matters"
)


def _linear_range(
    predictor: LiftPredictor, reports: list[CohortReport], probe_nll: float | None
) -> LinearRange | None:
    """The signals' linear-range verdict under the predictor's label rule, each cohort's
    first-order lift set on its report; None when no cohort has signals."""
    if not any(r.signals for r in reports):
        return None
    from datalint.predict.linear_range import judge_signals

    lifts, verdict = judge_signals(predictor.card, [r.signals for r in reports], probe_nll)
    for report, lift in zip(reports, lifts, strict=True):
        report.first_order_lift = lift
    return verdict


def _missing_signals_note(name: str, opts: CheckOptions, why: str | None = None) -> str:
    return (
        f"note: {name} takes gradient signals, not computed ({why or _why_no_signals(opts)}): "
        "it predicts from the 23 features alone, as its card's 'without gradient signals' rows "
        "measure"
    )


def _why_no_signals(opts: CheckOptions) -> str:
    if opts.gradient_signals is False:
        return "--no-gradient-signals"
    if not opts.probe:
        return "no --probe was given"
    if opts.rollouts_file:
        return "the rollouts are replayed from --rollouts"
    return f"the {opts.backend} backend's weights are not here to differentiate"


def _domain(
    predictor: LiftPredictor,
    fingerprint: str | None,
    reports: list[CohortReport],
    lift_score: float | None,
    signals_fed: bool,
) -> tuple[float | None, dict]:
    """The predictor's domain, and the dataset score that gates: out of domain, the free signal
    the card chose when its leave-one-world-out table showed the predictor no better (with or
    without the signals, as they were fed)."""
    from datalint.predict.domain import fallback_lift_score, predictor_domain

    domain = predictor_domain(predictor.card, fingerprint, reports, signals_fed=signals_fed)
    if not domain.in_domain and domain.lift_score_source != "predictor":
        fallback = fallback_lift_score(predictor.card, domain.lift_score_source, reports)
        if fallback is not None:
            lift_score = fallback
        else:
            domain.lift_score_source = "predictor"
    return lift_score, domain.as_dict()


def _domain_note(name: str, domain: dict) -> str:
    note = f"note: {name} was not fit on this model (nearest world: {domain['nearest_world']}); "
    if domain["lift_score_source"] == "predictor":
        return note + "its predictions are extrapolations"
    return (
        note + f"the dataset lift score falls back to {domain['lift_score_source']} in nats "
        "(the card's held-out-world table); per-cohort predicted_lift is still the predictor's"
    )


def _refuse_unreadable_default(opts: CheckOptions, n_unreadable: int, n_sampled: int) -> None:
    """The shipped tiny policy reads only arithmetic: judging other data with it would blame the
    data for what the model cannot read."""
    if opts.model is None and opts.rollouts_file is None and 2 * n_unreadable > n_sampled:
        raise InputError(
            f"{n_unreadable} of {n_sampled} prompts cannot be read by the default policy, a tiny "
            "arithmetic model (20-token vocabulary, 32-token context; S022/S023); "
            "pass --model DIR with a model that reads this data"
        )


def _load_predictor(path: str | None) -> LiftPredictor:
    """Loaded before any sampling, so a bad --predictor fails in a second, not after rollouts."""
    from datalint.predict import LiftPredictor

    return LiftPredictor.load(path)
