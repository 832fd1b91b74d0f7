"""One real GRPO run (trl's GRPOTrainer) on one cohort, from the same base checkpoint every time.

``train_cohort`` is the measurement half of ``datalint calibrate``: it copies the base policy,
trains it with GRPO on the cohort's prompts and returns the trained model in memory, with the
seconds spent setting trl up and training. The base model and tokenizer are loaded once per
process (``load_base``) so many cohorts pay the disk and parsing cost once.

Settings follow DESIGN.md for small CPU models: ``use_cpu``, no bf16, no gradient checkpointing,
no checkpoint saving, no reporting, ``beta=0`` (no reference model), one generation round per
optimizer step (``steps_per_generation=1``) over all the cohort's prompts.

torch, transformers, trl and datasets are imported inside the functions (the ``calibrate``
extra); without them ``MissingExtra("calibrate")`` is raised.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from datalint.extras import MissingExtra

# reward_fn(completions, item_indices) -> one reward per completion; item_indices[i] is the
# position in ``prompts`` of the item that completions[i] answers.
RewardFn = Callable[[list[str], list[int]], Sequence[float]]


@dataclass
class GRPORun:
    model: Any  # the trained transformers model, in memory, in eval mode
    setup_seconds: float  # building GRPOConfig + GRPOTrainer + copying the base weights
    train_seconds: float  # trainer.train(): generation, rewards and optimizer steps
    steps: int
    mean_reward: float | None  # mean reward over all completions sampled during training


@lru_cache(maxsize=4)
def load_base(model_dir: str) -> tuple[Any, Any]:
    """The base policy and tokenizer, loaded once per process and never modified."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingExtra("hf", "loading the policy model") from exc
    _quiet_libraries()
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model, tokenizer


def exact_match_reward(answers: Sequence[str]) -> RewardFn:
    """A reward of 1.0 when the stripped completion equals the item's answer, else 0.0."""

    def reward(completions: list[str], item_indices: list[int]) -> list[float]:
        return [
            float(c.strip() == str(answers[i]).strip())
            for c, i in zip(completions, item_indices, strict=True)
        ]

    return reward


def _quiet_libraries() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    for name in ("transformers", "trl", "accelerate", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(trl|transformers|accelerate)\b")


def train_cohort(
    model_dir: str,
    prompts: Sequence[str],
    reward_fn: RewardFn,
    *,
    steps: int,
    lr: float,
    seed: int,
    num_generations: int = 8,
    temperature: float = 1.0,
    max_completion_length: int = 8,
    **grpo_overrides: Any,
) -> GRPORun:
    """Run ``steps`` GRPO steps of trl's GRPOTrainer on ``prompts`` from the base at ``model_dir``.

    Each step samples ``num_generations`` completions per prompt at ``temperature``, scores them
    with ``reward_fn`` and takes one Adam step at learning rate ``lr``. Deterministic given
    ``seed`` on one torch thread. ``grpo_overrides`` are passed to ``GRPOConfig`` (for example
    trl's vLLM options on a GPU box). The base weights on disk and in the cache are untouched.
    """
    if not prompts:
        raise ValueError("train_cohort needs at least one prompt")
    try:
        import torch
        from datasets import Dataset
        from transformers.trainer_callback import PrinterCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as exc:
        raise MissingExtra("calibrate", "GRPO training") from exc
    _quiet_libraries()

    t0 = time.perf_counter()
    base, tokenizer = load_base(model_dir)
    model = copy.deepcopy(base)
    model.train()
    dataset = Dataset.from_dict({"prompt": list(prompts), "item_index": list(range(len(prompts)))})
    rewards_seen: list[float] = []

    def trl_reward(
        prompts: list[str], completions: list[str], item_index: list[int], **_: Any
    ) -> list[float]:
        rewards = [float(r) for r in reward_fn(list(completions), list(item_index))]
        rewards_seen.extend(rewards)
        return rewards

    trl_reward.__name__ = "cohort_reward"
    batch = len(prompts) * num_generations
    settings: dict[str, Any] = {
        "output_dir": tempfile.gettempdir(),
        "use_cpu": not torch.cuda.is_available(),
        "bf16": False,
        "fp16": False,
        "learning_rate": lr,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "max_steps": steps,
        "per_device_train_batch_size": batch,
        "steps_per_generation": 1,
        "num_iterations": 1,
        "num_generations": num_generations,
        "temperature": temperature,
        "top_p": 1.0,
        "top_k": 0,
        "max_completion_length": max_completion_length,
        "beta": 0.0,
        "gradient_checkpointing": False,
        "save_strategy": "no",
        "report_to": [],
        "logging_strategy": "no",
        "disable_tqdm": True,
        "log_level": "error",
        "seed": seed,
        "data_seed": seed,
        "dataloader_num_workers": 0,
        "remove_unused_columns": False,
    }
    settings.update(grpo_overrides)
    config = GRPOConfig(**settings)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=trl_reward,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    # with tqdm disabled, transformers prints every log dict to stdout: keep stdout for reports
    trainer.remove_callback(PrinterCallback)
    setup_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t1
    trained = trainer.model
    trained.eval()
    mean_reward = sum(rewards_seen) / len(rewards_seen) if rewards_seen else None
    return GRPORun(trained, setup_s, train_s, steps, mean_reward)
