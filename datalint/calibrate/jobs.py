"""One GRPO measurement, as a picklable job a spawned worker process runs.

A job trains the base policy on one cohort with one seed (trl's GRPOTrainer through
:func:`datalint.calibrate.grpo.train_cohort`, rewards from the cohort's own verifiers) and scores
the probe with the trained model. Each worker process runs one torch thread: two multi-threaded
torch jobs on two cores slow each other down 5-10x.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from datalint.calibrate.store import RunKey
from datalint.grade.settings import Grading
from datalint.load.records import Item


@dataclass(frozen=True, slots=True)
class GRPOJob:
    key: RunKey
    model_dir: str
    prompts: tuple[str, ...]
    items: tuple[Item, ...]  # graded with their own verifiers
    probe_prompts: tuple[str, ...]
    probe_answers: tuple[str, ...]
    steps: int
    lr: float
    seed: int
    num_generations: int
    temperature: float
    max_completion_length: int
    default_verifier: str = "exact"
    trl_options: dict[str, Any] = field(default_factory=dict)
    grading: Grading | None = None  # the config's verifier names reach the spawned worker here


@dataclass(frozen=True, slots=True)
class GRPOOutcome:
    key: RunKey
    nll_after: float
    pgold_after: float
    timings: dict[str, float]
    mean_train_reward: float | None


def init_worker() -> None:
    """Process-pool initializer: one torch thread per worker, quiet offline libraries, and the
    same output guard as the CLI (trl and transformers log here, to the inherited stderr)."""
    from datalint.cli.guard import install

    install()
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(1)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cohort_reward(items: tuple[Item, ...], grading: Grading | str):  # type: ignore[no-untyped-def]
    """GRPO's reward function: each completion graded by its item's verifier; errors -> 0.

    Each call (one batch of completions) shares one grading time budget per item in it.
    """
    from datalint.grade.budget import PER_ITEM_SECONDS, item_budget
    from datalint.grade.registry import grade

    if isinstance(grading, str):
        grading = Grading(default_verifier=grading)

    def reward(completions: list[str], item_indices: list[int]) -> list[float]:
        out = []
        with item_budget(PER_ITEM_SECONDS * max(1, len(set(item_indices)))):
            for completion, index in zip(completions, item_indices, strict=True):
                try:
                    out.append(float(grade(items[index], completion, grading)))
                except Exception:  # a verifier failing on one sample must not kill the run
                    out.append(0.0)
        return out

    return reward


def run_grpo_job(job: GRPOJob) -> GRPOOutcome:
    from datalint.calibrate.grpo import load_base, train_cohort
    from datalint.calibrate.probe import probe_nll

    t0 = time.perf_counter()
    run = train_cohort(
        job.model_dir,
        list(job.prompts),
        cohort_reward(job.items, job.grading or Grading(default_verifier=job.default_verifier)),
        steps=job.steps,
        lr=job.lr,
        seed=job.seed,
        num_generations=job.num_generations,
        temperature=job.temperature,
        max_completion_length=job.max_completion_length,
        **job.trl_options,
    )
    t1 = time.perf_counter()
    _, tokenizer = load_base(job.model_dir)
    score = probe_nll(run.model, tokenizer, list(job.probe_prompts), list(job.probe_answers))
    t2 = time.perf_counter()
    timings = {
        "setup_s": run.setup_seconds,
        "train_s": run.train_seconds,
        "probe_s": t2 - t1,
        "total_s": t2 - t0,
        "peak_rss_mb": peak_rss_mb(),
    }
    return GRPOOutcome(job.key, score.nll, score.p_gold, timings, run.mean_reward)
