"""One round of one arm, as a picklable job a spawned worker runs.

From the arm's current weights: measure the round's candidate cohorts (the features ``check``
computes, through ``measure_cohorts``), score them, pick one (or, for the oracle, train them
all), train with trl GRPO (``calibrate``'s ``train_cohort``), score the probe, and save the
weights the arm keeps as the round's checkpoint. The parent process alone writes the store.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datalint.load.records import Item
from datalint.loop.predictor import Label
from datalint.rollout.fingerprint import TOKENIZER_FILES


@dataclass(frozen=True, slots=True)
class Candidate:
    pool_index: int
    cohort_id: str
    cohort_key: str
    subject: str | None
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class RoundJob:
    loop_seed: int
    arm: str
    round: int
    start_dir: str
    nll_before: float
    candidates: tuple[Candidate, ...]
    probe_items: tuple[Item, ...]
    probe_prompts: tuple[str, ...]
    probe_answers: tuple[str, ...]
    labels: tuple[Label, ...]
    prior: str | None
    min_labels: int
    ridge_alpha: float
    steps: int
    lr: float
    training_seed: int
    num_generations: int
    temperature: float
    max_completion_length: int
    cohort_size: int
    feature_rollouts: int
    feature_max_new_tokens: int
    feature_seed: int
    default_verifier: str
    cache_dir: str | None
    use_cache: bool
    checkpoint_dir: str
    trl_options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CandidateResult:
    features: dict[str, float | None]
    item_pass_rates: list[float]
    predicted: float
    prior: float
    mean_p1p: float
    nll_after: float | None = None
    pgold_after: float | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        return self.nll_after is not None


@dataclass(slots=True)
class RoundOutcome:
    loop_seed: int
    arm: str
    round: int
    start_fingerprint: str
    candidates: list[CandidateResult]
    chosen: int
    predictor_version: str
    predictor_reason: str
    predictor_gate: dict[str, Any] | None
    nll_after: float
    pgold_after: float | None
    checkpoint: str
    scoring_s: float
    training_s: float
    probe_s: float
    save_s: float


def mean_p1p(pass_rates: list[float]) -> float:
    if not pass_rates:
        return float("nan")
    return sum(p * (1.0 - p) for p in pass_rates) / len(pass_rates)


def measure_candidates(job: RoundJob) -> list[Any]:
    """Reports of the candidates in draw order (None where no prompt is readable by the model),
    from rollouts of the arm's current weights."""
    from datalint.engine import Gate
    from datalint.measure import measure_cohorts
    from datalint.rollout.base import SamplingParams

    # a cohort field per candidate keeps each candidate one cohort, whatever the pool's layout
    items = [
        dataclasses.replace(it, cohort=f"{c.cohort_id}#{c.pool_index}")
        for c in job.candidates
        for it in c.items
    ]
    measured = measure_cohorts(
        items,
        cohort_size=job.cohort_size,
        params=SamplingParams(
            n=job.feature_rollouts,
            temperature=job.temperature,
            max_new_tokens=job.feature_max_new_tokens,
            seed=job.feature_seed,
        ),
        backend="transformers",
        model=job.start_dir,
        rollouts_file=None,
        cache_dir=job.cache_dir,
        use_cache=job.use_cache,
        progress=False,
        probe_items=list(job.probe_items),
        default_verifier=job.default_verifier,
        gate=Gate(()),
        gradient_signals=True,  # at the arm's current weights: a prior may take them
    )
    # a candidate with no prompt the model can read is not measured (None): it scores NaN
    by_id = {c.id: r for c, r in zip(measured.cohorts, measured.reports, strict=True)}
    return [by_id.get(f"{c.cohort_id}#{c.pool_index}") for c in job.candidates]


def choose(arm: str, job: RoundJob, results: list[CandidateResult]) -> int | None:
    """The pick before training; None for the oracle, which picks after training them all."""
    from datalint.loop.draws import argmax, random_pick

    if arm == "learned":
        return argmax([r.predicted for r in results])
    if arm == "p1p":
        return argmax([r.mean_p1p for r in results])
    if arm == "random":
        return random_pick(job.loop_seed, job.round, len(results))
    if arm == "oracle":
        return None
    raise ValueError(f"unknown arm {arm!r}")


def save_checkpoint(model: Any, start_dir: str, target: str) -> None:
    """Weights with ``save_pretrained``, tokenizer files copied verbatim; written beside the
    target and moved into place, so a checkpoint directory is never half written."""
    final = Path(target)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    for name in TOKENIZER_FILES:  # save_pretrained writes the weights and configs
        src = Path(start_dir) / name
        if src.is_file():
            shutil.copy2(src, tmp / name)
    if final.exists():  # left by a round killed after saving but before its commit
        shutil.rmtree(final)
    os.replace(tmp, final)


def run_round(job: RoundJob) -> RoundOutcome:
    from datalint.calibrate.grpo import load_base, train_cohort
    from datalint.calibrate.jobs import cohort_reward, peak_rss_mb
    from datalint.calibrate.probe import probe_nll
    from datalint.loop.predictor import OnlinePredictor, load_prior
    from datalint.rollout.base import render_prompt
    from datalint.rollout.fingerprint import fingerprint_model

    fingerprint = fingerprint_model(job.start_dir)
    t0 = time.perf_counter()
    reports = measure_candidates(job)
    predictor = OnlinePredictor(
        load_prior(job.prior), job.labels, min_labels=job.min_labels, alpha=job.ridge_alpha
    )
    measured = [r for r in reports if r is not None]
    rows = [r.predictor_row() for r in measured]
    predicted = iter(predictor.predict(rows).tolist())
    prior = iter(predictor.prior_scores(rows).tolist())
    results = []
    for report in reports:
        if report is None:
            nan = float("nan")
            results.append(CandidateResult({}, [], predicted=nan, prior=nan, mean_p1p=nan))
            continue
        rates = [d.pass_rate for d in report.items]
        results.append(
            CandidateResult(
                features=report.predictor_row(),
                item_pass_rates=rates,
                predicted=float(next(predicted)),
                prior=float(next(prior)),
                mean_p1p=mean_p1p(rates),
            )
        )
    scoring_s = time.perf_counter() - t0

    pick = choose(job.arm, job, results)
    to_train = range(len(results)) if pick is None else [pick]
    _, tokenizer = load_base(job.start_dir)
    training_s = probe_s = 0.0
    kept: tuple[int, Any] | None = None
    for i in to_train:
        cand = job.candidates[i]
        t1 = time.perf_counter()
        run = train_cohort(
            job.start_dir,
            [render_prompt(it, tokenizer) for it in cand.items],
            cohort_reward(cand.items, job.default_verifier),
            steps=job.steps,
            lr=job.lr,
            seed=job.training_seed,
            num_generations=job.num_generations,
            temperature=job.temperature,
            max_completion_length=job.max_completion_length,
            **job.trl_options,
        )
        t2 = time.perf_counter()
        score = probe_nll(run.model, tokenizer, list(job.probe_prompts), list(job.probe_answers))
        t3 = time.perf_counter()
        training_s += t2 - t1
        probe_s += t3 - t2
        res = results[i]
        res.nll_after, res.pgold_after = score.nll, score.p_gold
        res.timings = {
            "setup_s": run.setup_seconds,
            "train_s": run.train_seconds,
            "probe_s": t3 - t2,
            "total_s": t3 - t1,
            "peak_rss_mb": peak_rss_mb(),
        }
        # the oracle keeps the lowest probe NLL; ties keep the earlier candidate
        if kept is None or score.nll < results[kept[0]].nll_after:  # type: ignore[operator]
            kept = (i, run.model)
    assert kept is not None
    chosen, model = kept
    t4 = time.perf_counter()
    save_checkpoint(model, job.start_dir, job.checkpoint_dir)
    save_s = time.perf_counter() - t4
    return RoundOutcome(
        loop_seed=job.loop_seed,
        arm=job.arm,
        round=job.round,
        start_fingerprint=fingerprint,
        candidates=results,
        chosen=chosen,
        predictor_version=predictor.version,
        predictor_reason=predictor.reason,
        predictor_gate=None if predictor.gate is None else dataclasses.asdict(predictor.gate),
        nll_after=float(results[chosen].nll_after),  # type: ignore[arg-type]
        pgold_after=results[chosen].pgold_after,
        checkpoint=job.checkpoint_dir,
        scoring_s=scoring_s,
        training_s=training_s,
        probe_s=probe_s,
        save_s=save_s,
    )
