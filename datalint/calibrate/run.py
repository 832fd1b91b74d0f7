"""``datalint calibrate``: measure what each cohort of a dataset really does to the policy.

For each cohort: its 23 features, computed by the same stages ``check`` runs (cohorts, rollouts,
grading, features, target similarity) with the feature-rollout seed ``feature_seed``; then, per
training seed, a real GRPO run from the same base checkpoint and the probe NLL after it. The
probe NLL before is computed once per (model, probe) and kept in the store. GRPO training seeds
start at ``first_training_seed`` (1000), far from the feature seed (0, check's default), so the
feature rollouts never share a seed with the training runs.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from datalint.calibrate.hashing import files_hash, items_hash, stable_hash
from datalint.calibrate.jobs import GRPOJob, GRPOOutcome, init_worker, run_grpo_job
from datalint.calibrate.preflight import require_preflight
from datalint.calibrate.store import CalibrationStore, ClaimOwner, Heartbeat, RunKey, RunRecord
from datalint.extras import MissingExtra
from datalint.findings import CohortReport
from datalint.grade.settings import Grading
from datalint.load.records import Cohort, Item

if TYPE_CHECKING:
    from datalint.measure import CohortMeasurement

Notify = Callable[[str], None]


class _Keyed(Protocol):
    @property
    def key(self) -> RunKey: ...


class Executor(Protocol):
    """What runs the jobs: :func:`datalint.calibrate.executor.execute`'s signature."""

    def __call__(
        self,
        jobs: Sequence[Any],
        job_fn: Callable[[Any], Any],
        on_result: Callable[[Any], None],
        *,
        workers: int = 1,
        initializer: Callable[[], None] | None = None,
        progress: bool = False,
        take: Callable[[Any], bool] | None = None,
    ) -> int: ...


@dataclass(slots=True)
class CalibrateOptions:
    paths: list[str]
    probe: str
    store: str
    model: str | None = None
    steps: int = 8
    lr: float = 2e-5  # the documented sweep: pretrained/grpo-sweep.json
    seeds: int = 3
    cohort_size: int = 4
    workers: int = 2
    backend: str = "transformers"
    num_generations: int = 8
    temperature: float = 1.0
    max_completion_length: int = 8
    feature_rollouts: int = 8
    feature_max_new_tokens: int = 256
    feature_seed: int = 0
    first_training_seed: int = 1000
    default_verifier: str = "exact"
    trl_options: dict[str, Any] = field(default_factory=dict)
    grading: Grading | None = None  # the config's [verifiers] and extraction; else the default
    use_cache: bool = True
    cache_dir: str | None = None
    progress: bool = False
    trust_rollouts: bool = False  # replay rollouts inline in the data for the features
    fields: dict[str, str] | None = None  # explicit field mapping (--field, [fields])
    dtype: str = "float32"  # of the feature rollouts (GRPO runs as trl configures it)
    device: str = "auto"
    system_prompt: str | None = None
    executor: str = "process"  # or "ray"
    ray_address: str | None = None
    threads_per_run: int = 1
    gpus_per_run: float | None = None  # None: one per run when the Ray cluster has GPUs

    def make_executor(self) -> Executor | None:
        """The executor the options name (None: the local process pool)."""
        if self.executor != "ray":
            return None
        from datalint.calibrate.ray_executor import RayExecutor

        return RayExecutor(self.ray_address, self.threads_per_run, self.gpus_per_run)

    def grpo_settings(self) -> dict[str, Any]:
        """Everything that changes a run's outcome besides cohort, seed, model and probe."""
        extraction = self.grading_setup().extraction
        extra = {"answer_extraction": extraction} if extraction != "strict" else {}
        return extra | {
            "steps": self.steps,
            "lr": self.lr,
            "num_generations": self.num_generations,
            "temperature": self.temperature,
            "max_completion_length": self.max_completion_length,
            "trl_options": dict(sorted(self.trl_options.items())),
            "feature_backend": self.backend,
            "feature_rollouts": self.feature_rollouts,
            "feature_max_new_tokens": self.feature_max_new_tokens,
            "feature_seed": self.feature_seed,
            "default_verifier": self.default_verifier,
            # only when set, so that stores made before the option keep their settings hash
            **({"trust_rollouts": True} if self.trust_rollouts else {}),
            **({"system_prompt": self.system_prompt} if self.system_prompt else {}),
        }

    def grading_setup(self) -> Grading:
        return self.grading or Grading(default_verifier=self.default_verifier)

    def training_seeds(self) -> list[int]:
        return [self.first_training_seed + s for s in range(self.seeds)]


@dataclass(slots=True)
class CohortMeasure:
    """A cohort with its features, ready for GRPO."""

    cohort: Cohort
    report: CohortReport
    key: str
    subject: str | None

    @property
    def pass_rates(self) -> list[float]:
        return [d.pass_rate for d in self.report.items]


@dataclass(slots=True)
class CalibrateSummary:
    n_cohorts: int
    n_runs_total: int
    n_runs_done_before: int
    n_runs_new: int
    nll_before: float
    pgold_before: float | None
    model_fingerprint: str
    probe_hash: str
    settings_hash: str


def resolve_model_dir(model: str | None) -> str:
    """``--model``, else the shipped tiny policy (the same default ``check`` samples with)."""
    from datalint.rollout.backends import resolve_model

    return resolve_model(model)


def _check_backend(opts: CalibrateOptions) -> None:
    missing = [m for m in ("torch", "transformers", "trl", "datasets") if not _importable(m)]
    if missing:
        raise MissingExtra("calibrate", f"GRPO needs {', '.join(missing)}")
    if opts.executor == "ray" and not _importable("ray"):
        raise MissingExtra("ray", "calibrate --executor ray")
    if opts.backend == "vllm" or opts.trl_options.get("use_vllm"):
        if not _importable("vllm"):
            raise MissingExtra("vllm", "--backend vllm / trl's use_vllm")
        import torch

        if not torch.cuda.is_available():
            raise MissingExtra("vllm", "vLLM GRPO generation needs a CUDA GPU and torch with CUDA")


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def load_items(paths: list[str], fields: dict[str, str] | None = None) -> list[Item]:
    """Every item of the data files (``fields``: the explicit field mapping, as check's
    ``--field``); a malformed line stops calibration with its file:line."""
    from datalint.load import InputError, ProblemCollector, discover_files, iter_items

    collector = ProblemCollector()
    items = list(iter_items(discover_files(paths), collector, fields=fields))
    if collector.problems:
        problems = collector.problems
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise InputError(problems[0] + more)
    return items


def majority_subject(cohort: Cohort) -> str | None:
    subjects = Counter(it.subject for it in cohort.items if it.subject)
    return subjects.most_common(1)[0][0] if subjects else None


def feature_measurement(
    items: list[Item],
    probe_items: list[Item],
    opts: CalibrateOptions,
    model_dir: str,
    *,
    gradient_signals: bool = True,
) -> CohortMeasurement:
    """The cohorts measured by ``measure_cohorts``, the very function ``check`` calls, with
    calibrate's feature-rollout settings; the gradient signals too unless told not to."""
    from datalint.engine import Gate
    from datalint.measure import measure_cohorts
    from datalint.rollout.backends import ModelOptions
    from datalint.rollout.base import SamplingParams

    return measure_cohorts(
        items,
        cohort_size=opts.cohort_size,
        params=SamplingParams(
            n=opts.feature_rollouts,
            temperature=opts.temperature,
            max_new_tokens=opts.feature_max_new_tokens,
            seed=opts.feature_seed,
        ),
        backend=opts.backend,
        model=model_dir,
        rollouts_file=None,
        cache_dir=opts.cache_dir,
        use_cache=opts.use_cache,
        progress=opts.progress,
        probe_items=probe_items,
        default_verifier=opts.default_verifier,
        grading=opts.grading_setup(),
        gate=Gate(()),
        trust_rollouts=opts.trust_rollouts,
        model_options=ModelOptions(opts.dtype, opts.device, opts.system_prompt),
        gradient_signals=gradient_signals,
    )


def measure_features(
    items: list[Item], probe_items: list[Item], opts: CalibrateOptions, model_dir: str
) -> tuple[list[CohortMeasure], str]:
    """The cohorts' features and signals (stored beside the 23 for fits that take them), and
    the similarity method their target_similarity was computed with."""
    measured = feature_measurement(items, probe_items, opts, model_dir)
    cohorts, reports = measured.cohorts, measured.reports
    return [
        CohortMeasure(c, r, items_hash(c.items), majority_subject(c))
        for c, r in zip(cohorts, reports, strict=True)
    ], measured.similarity_method or "none"


def base_probe_score(
    store: CalibrationStore,
    model_dir: str,
    fingerprint: str,
    probe: tuple[list[str], list[str]],
    probe_hash: str,
) -> tuple[float, float | None]:
    """Probe NLL and P(gold) of the untouched base model: computed once, kept in the store."""
    known = store.baseline(fingerprint, probe_hash)
    if known is not None:
        return known
    from datalint.calibrate.grpo import load_base
    from datalint.calibrate.probe import probe_nll

    init_worker()
    model, tokenizer = load_base(model_dir)
    score = probe_nll(model, tokenizer, probe[0], probe[1])
    store.set_baseline(fingerprint, probe_hash, score.nll, score.p_gold)
    return score.nll, score.p_gold


def calibrate(opts: CalibrateOptions, notify: Notify) -> CalibrateSummary:
    _check_backend(opts)
    from datalint.load import read_items_quietly
    from datalint.rollout.base import render_prompt
    from datalint.rollout.fingerprint import fingerprint_model

    model_dir = resolve_model_dir(opts.model)
    items = load_items(opts.paths, opts.fields)
    if not items:
        raise ValueError("no items in the data files")
    n_inline = sum(1 for it in items if it.rollouts is not None)
    if n_inline and not opts.trust_rollouts:
        from datalint.rollout.trust import untrusted_rollouts_note

        notify(untrusted_rollouts_note(n_inline))
    probe_items = read_items_quietly(opts.probe)
    if not probe_items:
        raise ValueError(f"{opts.probe}: the probe holds no items")
    fingerprint = fingerprint_model(model_dir)
    tokenizer = _tokenizer(model_dir)
    require_preflight(
        items,
        default_verifier=opts.default_verifier,
        tokenizer=tokenizer,
        model_dir=model_dir,
        grading=opts.grading_setup(),
    )
    prompts_of = {id(it): render_prompt(it, tokenizer, opts.system_prompt) for it in items}
    probe_prompts = [render_prompt(it, tokenizer, opts.system_prompt) for it in probe_items]
    require_readable_prompts(
        items, [prompts_of[id(it)] for it in items], probe_items, probe_prompts, opts
    )
    probe_answers = [it.answer_text for it in probe_items]
    probe_hash = stable_hash([probe_prompts, probe_answers])
    data_hash = files_hash(_data_files(opts.paths))
    settings = opts.grpo_settings()
    s_hash = stable_hash(settings)

    with CalibrationStore(opts.store) as store:
        nll_before, pgold_before = base_probe_score(
            store, model_dir, fingerprint, (probe_prompts, probe_answers), probe_hash
        )
        notify(f"base model probe NLL {nll_before:.4f}, mean P(gold) {pgold_before or 0:.4f}")
        measures, similarity_method = measure_features(items, probe_items, opts, model_dir)
        # Recorded with every run but not hashed: stores made before the key keep their hash
        # (and resume), and fit refuses to mix stores whose methods differ.
        settings = {**settings, "similarity_method": similarity_method}
        by_key = {m.key: m for m in measures}
        keys = [
            RunKey(m.key, seed, s_hash, fingerprint, probe_hash)
            for m in measures
            for seed in opts.training_seeds()
        ]
        todo, already, total = pending_runs(store, keys)
        jobs = [
            GRPOJob(
                key=key,
                model_dir=model_dir,
                prompts=tuple(prompts_of[id(it)] for it in by_key[key.cohort_key].cohort.items),
                items=tuple(by_key[key.cohort_key].cohort.items),
                probe_prompts=tuple(probe_prompts),
                probe_answers=tuple(probe_answers),
                steps=opts.steps,
                lr=opts.lr,
                seed=key.seed,
                num_generations=opts.num_generations,
                temperature=opts.temperature,
                max_completion_length=opts.max_completion_length,
                default_verifier=opts.default_verifier,
                trl_options=dict(opts.trl_options),
                grading=opts.grading_setup(),
            )
            for key in todo
        ]
        notify(
            f"{len(measures)} cohorts x {opts.seeds} seeds: {already} runs stored, "
            f"{len(jobs)} to run"
        )

        def commit(outcome: GRPOOutcome) -> None:
            m = by_key[outcome.key.cohort_key]
            store.add_run(
                RunRecord(
                    key=outcome.key,
                    cohort_id=m.cohort.id,
                    subject=m.subject,
                    data_hash=data_hash,
                    n_items=len(m.cohort.items),
                    features=m.report.predictor_row(),
                    item_pass_rates=m.pass_rates,
                    nll_before=nll_before,
                    nll_after=outcome.nll_after,
                    pgold_before=pgold_before,
                    pgold_after=outcome.pgold_after,
                    settings=settings,
                    timings=outcome.timings,
                )
            )

        new = execute_claimed(
            store,
            jobs,
            run_grpo_job,
            commit,
            workers=opts.workers,
            initializer=init_worker,
            progress=opts.progress,
            executor=opts.make_executor(),
        )
        if new < len(jobs):
            notify(
                f"{len(jobs) - new} runs were taken by another calibrate process on this store "
                "(rerun to pick up any it leaves unfinished)"
            )
    return CalibrateSummary(
        n_cohorts=len(measures),
        n_runs_total=total,
        n_runs_done_before=already,
        n_runs_new=new,
        nll_before=nll_before,
        pgold_before=pgold_before,
        model_fingerprint=fingerprint,
        probe_hash=probe_hash,
        settings_hash=s_hash,
    )


def pending_runs(store: CalibrationStore, keys: list[RunKey]) -> tuple[list[RunKey], int, int]:
    """(runs still to measure, runs already stored, distinct runs in all) for ``keys``.

    The resume check is the store's full run key, seed included: a seed that was never stored is
    measured even when the cohort's other seeds are. A cohort repeated verbatim is one run.
    """
    todo: list[RunKey] = []
    seen: set[RunKey] = set()
    already = 0
    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        if store.has_run(key):
            already += 1
        else:
            todo.append(key)
    return todo, already, len(seen)


J = TypeVar("J", bound=_Keyed)
R = TypeVar("R")


def execute_claimed(
    store: CalibrationStore,
    jobs: Sequence[J],
    job_fn: Callable[[J], R],
    on_result: Callable[[R], None],
    *,
    workers: int,
    initializer: Callable[[], None] | None = None,
    progress: bool = False,
    executor: Executor | None = None,
) -> int:
    """``executor`` (default :func:`~datalint.calibrate.executor.execute`, the local process
    pool; or a :class:`~datalint.calibrate.ray_executor.RayExecutor`) with each job claimed in
    ``store`` just before it starts, so concurrent calibrations on one store never run the same
    job twice.

    Claims are refreshed by a heartbeat while the jobs run and released when this returns (a
    job that failed or was interrupted goes back to the pool). Returns the jobs this process
    finished; the ones it did not take were stored or claimed by another process.
    """
    from datalint.calibrate.executor import execute

    run_jobs = executor or execute
    owner = ClaimOwner.this_process()
    try:
        with Heartbeat(store.path, owner):
            return run_jobs(
                jobs,
                job_fn,
                on_result,
                workers=workers,
                initializer=initializer,
                progress=progress,
                take=lambda job: store.claim(job.key, owner),
            )
    finally:
        store.release_claims(owner)


_SHOWN = 3


def require_readable_prompts(
    items: list[Item],
    prompts: list[str],
    probe_items: list[Item],
    probe_prompts: list[str],
    opts: CalibrateOptions,
) -> None:
    """Stops before any GRPO run when the model cannot read a prompt: GRPO would crash inside
    trl (a prompt over the context) or train on what the model misreads (unknown tokens)."""
    from datalint.calibrate.dataset import CalibrationDataError
    from datalint.rollout.readable import unreadable_prompts
    from datalint.rollout.transformers_backend import TransformersBackend

    model_dir = resolve_model_dir(opts.model)
    backend = TransformersBackend(model_dir, system_prompt=opts.system_prompt)
    room = opts.max_completion_length
    problems = [
        f"{items[i].source}: {why.describe()}"
        for i, why in unreadable_prompts(prompts, backend, room)
    ]
    scored = [p + a.answer_text for p, a in zip(probe_prompts, probe_items, strict=True)]
    problems += [
        f"{probe_items[i].source} (probe, with its answer): {why.describe()}"
        for i, why in unreadable_prompts(scored, backend, 1)
    ]
    if problems:
        more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
        raise CalibrationDataError(
            f"{len(problems)} prompts cannot be read by the model, with room for "
            f"--max-completion-length {room} new tokens: " + "; ".join(problems[:_SHOWN]) + more
        )


def _tokenizer(model_dir: str) -> object:
    """Prompts are rendered as the rollout backends render them (chat template when present)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def _data_files(paths: list[str]) -> list[str]:
    from datalint.load import discover_files

    return discover_files(paths)
