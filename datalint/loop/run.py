"""``datalint loop``: rounds of score -> pick -> train, per arm and seed, resumable from the store.

Every (seed, arm) is a chain of rounds; a round starts from the checkpoint its chain's previous
round kept (round 0 from the base model) and runs in a worker (:func:`run_round`). The parent
process alone writes the store, committing each round as it finishes, and refits nothing itself:
a round's job carries its arm's own labels, so the worker refits the arm's predictor from them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datalint.calibrate.hashing import items_hash, stable_hash
from datalint.calibrate.store import RunKey, RunRecord
from datalint.extras import MissingExtra
from datalint.load.records import Cohort, Item
from datalint.loop.draws import candidate_draws, pairwise_accuracy
from datalint.loop.options import ARMS, PRIOR_ADV_STD, LoopOptions
from datalint.loop.predictor import Label
from datalint.loop.store import LoopStore, OnlineRun, RoundRow
from datalint.loop.worker import Candidate, RoundJob, RoundOutcome

Notify = Callable[[str], None]


class LoopError(ValueError):
    pass


@dataclass(slots=True)
class Chain:
    """One (seed, arm): the rounds it finished, where its weights are, what it has learnt."""

    loop_seed: int
    arm: str
    done: int = 0  # rounds finished
    checkpoint: str = ""
    nll: float = 0.0
    labels: list[Label] = field(default_factory=list)


@dataclass(slots=True)
class LoopSummary:
    loop_hash: str
    rounds_before: int
    rounds_new: int
    rounds_total: int
    out_dir: Path
    written: list[Path]
    summary: dict[str, Any]


@dataclass(slots=True)
class Setup:
    model_dir: str
    cohorts: list[Cohort]
    cohort_keys: list[str]
    probe_items: list[Item]
    probe_prompts: list[str]
    probe_answers: list[str]
    probe_hash: str
    pool_hash: str
    fingerprint: str
    settings: dict[str, Any]
    settings_hash: str
    loop_hash: str
    out_dir: Path


def _check_extras() -> None:
    missing = [
        m
        for m in ("torch", "transformers", "trl", "datasets")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise MissingExtra("calibrate", f"the loop's GRPO needs {', '.join(missing)}")


def _check_executor(opts: LoopOptions) -> None:
    if opts.executor == "ray" and importlib.util.find_spec("ray") is None:
        raise MissingExtra("ray", "loop --executor ray")


def _prior_id(prior: str | None) -> str:
    if prior == PRIOR_ADV_STD:
        return PRIOR_ADV_STD
    from datalint.calibrate.hashing import files_hash
    from datalint.predict import default_predictor_path

    path = Path(prior) if prior else default_predictor_path()
    if not path.is_file():
        if prior:
            raise LoopError(f"{prior}: predictor file not found")
        return PRIOR_ADV_STD  # no shipped predictor: the fallback, as check does
    return f"{path.name}:{files_hash([path])}"


def default_out_dir(store: str) -> Path:
    p = Path(store)
    return p.with_name(p.stem + "-out")


def prepare(opts: LoopOptions) -> Setup:
    """Validate everything before any work starts; the hashes that name the experiment."""
    _check_extras()
    _check_executor(opts)
    bad = [a for a in opts.arms if a not in ARMS]
    if bad or not opts.arms:
        raise LoopError(f"unknown arm(s) {', '.join(bad) or '(none)'}; known: {', '.join(ARMS)}")
    if opts.keep_checkpoints not in ("all", "last"):
        raise LoopError("keep-checkpoints must be 'all' or 'last'")
    from datalint.calibrate.run import load_items, resolve_model_dir
    from datalint.cohorts import make_cohorts
    from datalint.predict import PredictorError
    from datalint.rollout.base import render_prompt
    from datalint.rollout.fingerprint import fingerprint_model

    prior_id = _prior_id(opts.prior)
    if opts.prior not in (None, PRIOR_ADV_STD):
        from datalint.loop.predictor import load_prior

        try:
            load_prior(opts.prior)
        except PredictorError as exc:
            raise LoopError(str(exc)) from None
    model_dir = resolve_model_dir(opts.model)
    items = load_items(opts.pool)
    if not items:
        raise LoopError("no items in the pool")
    cohorts = make_cohorts(items, opts.cohort_size)
    candidate_draws(len(cohorts), 0, opts.rounds, opts.candidates)  # enough cohorts?
    probe_items = load_items([opts.probe])
    if not probe_items:
        raise LoopError(f"{opts.probe}: the probe holds no items")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    probe_prompts = [render_prompt(it, tokenizer) for it in probe_items]
    probe_answers = [it.answer_text for it in probe_items]
    probe_hash = stable_hash([probe_prompts, probe_answers])
    keys = [items_hash(c.items) for c in cohorts]
    pool_hash = stable_hash(keys)
    fingerprint = fingerprint_model(model_dir)
    settings = opts.grpo_settings()
    loop_hash = stable_hash([pool_hash, probe_hash, fingerprint, prior_id, opts.loop_settings()])
    out_dir = Path(opts.out) if opts.out else default_out_dir(opts.store)
    return Setup(
        model_dir=model_dir,
        cohorts=cohorts,
        cohort_keys=keys,
        probe_items=probe_items,
        probe_prompts=probe_prompts,
        probe_answers=probe_answers,
        probe_hash=probe_hash,
        pool_hash=pool_hash,
        fingerprint=fingerprint,
        settings=settings,
        settings_hash=stable_hash(settings),
        loop_hash=loop_hash,
        out_dir=out_dir,
    )


def _majority_subject(cohort: Cohort) -> str | None:
    from datalint.calibrate.run import majority_subject

    return majority_subject(cohort)


def restore_chains(
    store: LoopStore, setup: Setup, opts: LoopOptions, base_nll: float
) -> dict[tuple[int, str], Chain]:
    """Each chain as the store has it: finished rounds, last checkpoint, the arm's labels."""
    chains = {
        (s, a): Chain(s, a, 0, setup.model_dir, base_nll)
        for s in range(opts.seeds)
        for a in opts.arms
    }
    rows = sorted(store.rounds(setup.loop_hash), key=lambda r: (r.loop_seed, r.arm, r.round))
    for row in rows:
        chain = chains.get((row.loop_seed, row.arm))
        if chain is None or row.round != chain.done:
            continue  # a seed or arm not asked for this time, or a gap (never written so)
        chain.done = row.round + 1
        chain.checkpoint = row.checkpoint
        chain.nll = row.nll_after
    for run in store.online_runs(setup.loop_hash):
        chain = chains.get((run.loop_seed, run.arm))
        if chain is not None and run.round < chain.done:
            chain.labels.append(Label(run.record.features, run.record.lift, run.round))
    for chain in chains.values():
        resumes = chain.done and chain.done < opts.rounds
        if resumes and not Path(chain.checkpoint, "config.json").is_file():
            raise LoopError(
                f"seed {chain.loop_seed} arm {chain.arm}: round {chain.done - 1}'s checkpoint "
                f"{chain.checkpoint} is missing; cannot resume that chain"
            )
    return chains


def make_job(chain: Chain, setup: Setup, opts: LoopOptions) -> RoundJob:
    r = chain.done
    draws = candidate_draws(len(setup.cohorts), chain.loop_seed, r + 1, opts.candidates)[r]
    candidates = tuple(
        Candidate(
            pool_index=i,
            cohort_id=setup.cohorts[i].id,
            cohort_key=setup.cohort_keys[i],
            subject=_majority_subject(setup.cohorts[i]),
            items=tuple(setup.cohorts[i].items),
        )
        for i in draws
    )
    target = checkpoint_dir(setup, chain.loop_seed, chain.arm, r)
    target.parent.mkdir(parents=True, exist_ok=True)
    return RoundJob(
        loop_seed=chain.loop_seed,
        arm=chain.arm,
        round=r,
        start_dir=chain.checkpoint,
        nll_before=chain.nll,
        candidates=candidates,
        probe_items=tuple(setup.probe_items),
        probe_prompts=tuple(setup.probe_prompts),
        probe_answers=tuple(setup.probe_answers),
        labels=tuple(chain.labels),
        prior=opts.prior,
        min_labels=opts.min_labels,
        ridge_alpha=opts.ridge_alpha,
        steps=opts.steps,
        lr=opts.lr,
        training_seed=opts.training_seed(chain.loop_seed, r),
        num_generations=opts.num_generations,
        temperature=opts.temperature,
        max_completion_length=opts.max_completion_length,
        cohort_size=opts.cohort_size,
        feature_rollouts=opts.feature_rollouts,
        feature_max_new_tokens=opts.feature_max_new_tokens,
        feature_seed=opts.feature_seed,
        default_verifier=opts.default_verifier,
        cache_dir=opts.cache_dir,
        use_cache=opts.use_cache,
        checkpoint_dir=str(target),
        trl_options=dict(opts.trl_options),
    )


def checkpoint_dir(setup: Setup, loop_seed: int, arm: str, round_index: int) -> Path:
    return (
        setup.out_dir
        / "checkpoints"
        / setup.loop_hash
        / f"seed{loop_seed}"
        / arm
        / (f"round{round_index}")
    )


def _finite(value: float | None) -> float | None:
    import math

    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


def log_entry(job: RoundJob, out: RoundOutcome) -> dict[str, Any]:
    """The round's JSON log entry: candidates, their scores, the pick, what it did, the cost."""
    cands = []
    for i, (cand, res) in enumerate(zip(job.candidates, out.candidates, strict=True)):
        cands.append(
            {
                "candidate": i,
                "pool_index": cand.pool_index,
                "cohort_id": cand.cohort_id,
                "cohort_key": cand.cohort_key,
                "subject": cand.subject,
                "predicted": _finite(res.predicted),
                "prior": _finite(res.prior),
                "mean_p1p": _finite(res.mean_p1p),
                "adv_std": _finite(res.features.get("adv_std")),
                "realised_lift": None if res.nll_after is None else job.nll_before - res.nll_after,
            }
        )
    trained = [c for c in cands if c["realised_lift"] is not None]
    rank: dict[str, float | None] = {}
    if len(trained) >= 2:
        actual = [c["realised_lift"] for c in trained]
        for scorer in ("predicted", "prior", "mean_p1p", "adv_std"):
            scores = [float("nan") if c[scorer] is None else c[scorer] for c in trained]
            rank[scorer] = pairwise_accuracy(scores, actual)
    return {
        "seed": job.loop_seed,
        "arm": job.arm,
        "round": job.round,
        "start_fingerprint": out.start_fingerprint,
        "start_checkpoint": job.start_dir,
        "checkpoint": out.checkpoint,
        "training_seed": job.training_seed,
        "predictor_version": out.predictor_version,
        "predictor_reason": out.predictor_reason,
        "predictor_gate": out.predictor_gate,
        "n_labels": len(job.labels),
        "candidates": cands,
        "chosen": out.chosen,
        "chosen_cohort_id": job.candidates[out.chosen].cohort_id,
        "realised_lift": job.nll_before - out.nll_after,
        "nll_before": job.nll_before,
        "nll_after": out.nll_after,
        "pgold_after": _finite(out.pgold_after),
        "rank_accuracy": rank or None,
        "seconds": {
            "scoring": round(out.scoring_s, 4),
            "training": round(out.training_s, 4),
            "probe": round(out.probe_s, 4),
            "save": round(out.save_s, 4),
            "n_trained": len(trained),
        },
    }


def online_runs(
    job: RoundJob, out: RoundOutcome, setup: Setup, base_pgold: float | None
) -> list[OnlineRun]:
    runs = []
    for i, (cand, res) in enumerate(zip(job.candidates, out.candidates, strict=True)):
        if res.nll_after is None:
            continue
        record = RunRecord(
            key=RunKey(
                cand.cohort_key,
                job.training_seed,
                setup.settings_hash,
                out.start_fingerprint,
                setup.probe_hash,
            ),
            cohort_id=cand.cohort_id,
            subject=cand.subject,
            data_hash=setup.pool_hash,
            n_items=len(cand.items),
            features=res.features,
            item_pass_rates=res.item_pass_rates,
            nll_before=job.nll_before,
            nll_after=res.nll_after,
            pgold_before=base_pgold if job.round == 0 else None,
            pgold_after=res.pgold_after,
            settings={**setup.settings, "online": True},
            timings=res.timings,
        )
        runs.append(OnlineRun(record, job.loop_seed, job.arm, job.round, i, i == out.chosen))
    return runs


def run_loop(opts: LoopOptions, notify: Notify) -> LoopSummary:
    from datalint.calibrate.jobs import init_worker
    from datalint.calibrate.run import base_probe_score
    from datalint.calibrate.store import CalibrationStore
    from datalint.loop.live import LiveTable
    from datalint.loop.report import summarise, write_log, write_outputs

    setup = prepare(opts)
    setup.out_dir.mkdir(parents=True, exist_ok=True)
    with CalibrationStore(opts.store) as cal:
        base_nll, base_pgold = base_probe_score(
            cal,
            setup.model_dir,
            setup.fingerprint,
            (setup.probe_prompts, setup.probe_answers),
            setup.probe_hash,
        )
    notify(f"base model probe NLL {base_nll:.4f}; loop {setup.loop_hash}, out {setup.out_dir}")
    with LoopStore(opts.store) as store:
        store.describe(
            setup.loop_hash,
            {
                "pool_hash": setup.pool_hash,
                "probe_hash": setup.probe_hash,
                "base_fingerprint": setup.fingerprint,
                "base_nll": base_nll,
                "prior": _prior_id(opts.prior),
                "settings": opts.loop_settings(),
                "pool": [str(p) for p in opts.pool],
            },
        )
        chains = restore_chains(store, setup, opts, base_nll)
        before = sum(min(c.done, opts.rounds) for c in chains.values())
        total = opts.seeds * len(opts.arms) * opts.rounds
        notify(
            f"{opts.seeds} seeds x {len(opts.arms)} arms x {opts.rounds} rounds: "
            f"{before} rounds stored, {total - before} to run"
        )
        live = LiveTable(opts, chains, base_nll, enabled=opts.live)

        def commit(job: RoundJob, out: RoundOutcome) -> None:
            entry = log_entry(job, out)
            row = RoundRow(out.loop_seed, out.arm, out.round, out.checkpoint, job.nll_before,
                           out.nll_after, entry)  # fmt: skip
            if store.commit_round(setup.loop_hash, row, online_runs(job, out, setup, base_pgold)):
                chain = chains[(out.loop_seed, out.arm)]
                previous = chain.checkpoint
                chain.done = out.round + 1
                chain.checkpoint = out.checkpoint
                chain.nll = out.nll_after
                chain.labels.extend(
                    Label(c.features, job.nll_before - c.nll_after, out.round)
                    for c in out.candidates
                    if c.nll_after is not None
                )
                if opts.keep_checkpoints == "last" and previous != setup.model_dir:
                    shutil.rmtree(previous, ignore_errors=True)
                write_log(store.rounds(setup.loop_hash), opts, setup, base_nll)
            live.update(entry)

        with live:
            new = _schedule(chains, setup, opts, commit, init_worker)
        written = write_outputs(store.rounds(setup.loop_hash), opts, setup, base_nll)
        summary = summarise(store.rounds(setup.loop_hash), opts, base_nll)
    return LoopSummary(setup.loop_hash, before, new, total, setup.out_dir, written, summary)


def _schedule(
    chains: dict[tuple[int, str], Chain],
    setup: Setup,
    opts: LoopOptions,
    commit: Callable[[RoundJob, RoundOutcome], None],
    initializer: Callable[[], None],
) -> int:
    """Run every chain to ``opts.rounds``: seed-major, so whole seeds finish first; a chain's
    next round is queued as soon as its previous round is committed."""
    from datalint.loop.worker import run_round

    arm_order = {a: i for i, a in enumerate(ARMS)}

    def ready() -> list[Chain]:
        waiting = [c for c in chains.values() if c.done < opts.rounds and id(c) not in busy]
        return sorted(waiting, key=lambda c: (c.loop_seed, c.done, arm_order[c.arm]))

    busy: set[int] = set()
    new = 0
    if opts.executor == "ray":
        return _schedule_ray(ready, busy, setup, opts, commit, initializer)
    if opts.workers <= 1:
        initializer()
        while todo := ready():
            job = make_job(todo[0], setup, opts)
            commit(job, run_round(job))
            new += 1
        return new

    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(opts.workers, mp_context=context, initializer=initializer) as pool:
        pending: dict[Future[RoundOutcome], tuple[Chain, RoundJob]] = {}
        while True:
            for chain in ready()[: opts.workers - len(pending)]:
                job = make_job(chain, setup, opts)
                busy.add(id(chain))
                pending[pool.submit(run_round, job)] = (chain, job)
            if not pending:
                return new
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                chain, job = pending.pop(future)
                busy.discard(id(chain))
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise error
                commit(job, future.result())
                new += 1


def _schedule_ray(
    ready: Callable[[], list[Chain]],
    busy: set[int],
    setup: Setup,
    opts: LoopOptions,
    commit: Callable[[RoundJob, RoundOutcome], None],
    initializer: Callable[[], None],
) -> int:
    """The same schedule with each round a Ray task: the driver commits each finished round
    (and queues that chain's next) as it comes back; a round whose worker died is run again
    from the same checkpoint, and a round is committed once (the store's keys refuse a
    second). Checkpoints are written by the task to ``--out``: on a multi-node cluster that
    folder must be on storage every node shares."""
    from datalint.calibrate.ray_executor import RayExecutor
    from datalint.loop.worker import run_round

    executor = RayExecutor(
        address=opts.ray_address,
        threads_per_run=opts.threads_per_run,
        gpus_per_run=opts.gpus_per_run,
        purpose="loop --executor ray",
    )
    new = 0
    owner: dict[int, Chain] = {}
    with executor.session(run_round, workers=opts.workers, initializer=initializer) as tasks:
        while True:
            for chain in ready()[: max(0, tasks.capacity - tasks.pending)]:
                job = make_job(chain, setup, opts)
                busy.add(id(chain))
                owner[id(job)] = chain
                tasks.submit(job)
            if not tasks.pending:
                return new
            job, outcome = tasks.next_result()
            busy.discard(id(owner.pop(id(job))))
            commit(job, outcome)
            new += 1
