"""The loop's options, its arms, and the hash that names one loop experiment in the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# learned: the online predictor's top pick; random: a uniform pick; p1p: the free signal, the
# highest mean p(1-p) over the cohort's items; oracle: trains every candidate, keeps the best.
ARMS: tuple[str, ...] = ("learned", "random", "p1p", "oracle")
PRIOR_ADV_STD = "adv_std"


@dataclass(slots=True)
class LoopOptions:
    pool: list[str]
    probe: str
    store: str
    out: str | None = None
    model: str | None = None
    rounds: int = 8
    candidates: int = 4
    seeds: int = 5
    arms: tuple[str, ...] = ARMS
    prior: str | None = None  # None: the shipped predictor; "adv_std"; or an ONNX path
    min_labels: int = 4  # online labels an arm needs before a refit is tried
    # the refit's ridge penalty, in labels: the shipped predictor's 400 calibration cohorts, so
    # an online label counts as much as one of them (docs/loop/README.md, "The refit")
    ridge_alpha: float = 400.0
    steps: int = 8
    lr: float = 2e-5
    num_generations: int = 8
    temperature: float = 1.0
    max_completion_length: int = 8
    cohort_size: int = 4
    feature_rollouts: int = 8
    feature_max_new_tokens: int = 256
    feature_seed: int = 0
    first_training_seed: int = 1000
    default_verifier: str = "exact"
    workers: int = 2
    executor: str = "process"  # or "ray": each round a Ray task
    ray_address: str | None = None
    threads_per_run: int = 1
    gpus_per_run: float | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    keep_checkpoints: str = "all"  # "all" | "last"
    trl_options: dict[str, Any] = field(default_factory=dict)
    live: bool = False

    def grpo_settings(self) -> dict[str, Any]:
        """The same settings dict ``calibrate`` stores, so an online record reads like a base
        record of the same GRPO settings (and shares its settings hash)."""
        from datalint.calibrate.run import CalibrateOptions

        return CalibrateOptions(
            paths=self.pool,
            probe=self.probe,
            store=self.store,
            steps=self.steps,
            lr=self.lr,
            num_generations=self.num_generations,
            temperature=self.temperature,
            max_completion_length=self.max_completion_length,
            feature_rollouts=self.feature_rollouts,
            feature_max_new_tokens=self.feature_max_new_tokens,
            feature_seed=self.feature_seed,
            default_verifier=self.default_verifier,
            trl_options=dict(self.trl_options),
        ).grpo_settings()

    def loop_settings(self) -> dict[str, Any]:
        """Everything besides the data, probe and base model that changes a loop's rounds.
        Not the number of rounds or seeds: more of either extends the same experiment."""
        return {
            "grpo": self.grpo_settings(),
            "candidates": self.candidates,
            "min_labels": self.min_labels,
            "ridge_alpha": self.ridge_alpha,
            # v2: ridge on the prior's residual, used only when it wins on held-out rounds
            "refit": "residual-held-out-gate-2",
            "cohort_size": self.cohort_size,
            "first_training_seed": self.first_training_seed,
        }

    def training_seed(self, loop_seed: int, round_index: int) -> int:
        """GRPO seed of a round: the same for every arm (and every oracle candidate) of that
        seed and round, far from the feature-rollout seed."""
        return self.first_training_seed + 1000 * loop_seed + round_index
