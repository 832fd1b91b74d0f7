"""Are the gradient signals inside the range where their first-order reading holds?

``grad_align_adam`` = <sign(grad L_GRPO), grad NLL_probe> is a first-order estimate: after the
label rule's training (Adam, ``lr`` for ``steps`` steps; the predictor card's ``grpo_settings``)
the probe NLL drops by about ``lr * steps * grad_align_adam`` nats. That holds only while the
step is small against the NLL it changes. The verdict compares the median size of the cohorts'
first-order lifts with the probe NLL at the base weights: a ratio of two NLLs, so free of the
model's and the tokenizer's scale. Outside, ``check`` feeds the predictor no signals (the
"signals missing" path) and says so. No torch here: the core install imports it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

# The first-order lift may be at most this share of the probe NLL. Measured on the recorded
# worlds (scripts/linear_range_worlds.py): the four tiny worlds' medians are 0.27-2.9% of their
# probe NLL, where the signal ranks lifts at 0.74-0.86 pairwise; SmolLM2-135M-Instruct's is 199%,
# where it ranks at chance (0.51). With one group measured on each side, the line sits at their
# geometric middle (sqrt(0.029 x 1.99) = 24%), 8.6x above the largest tiny world and 8x below
# SmolLM2: a well-trained small model with a low probe NLL keeps its signal, and a step that
# would remove a quarter of the NLL is no longer a small step.
LINEAR_RANGE_SHARE = 0.25
ALIGN_SIGNAL = "grad_align_adam"


@dataclass(frozen=True, slots=True)
class LinearRange:
    """The dataset's verdict; ``in_linear_range`` is None when it cannot be judged (no probe
    NLL, or one that is not a finite number)."""

    first_order_lift_median: float | None  # nats, median of |lr * steps * grad_align_adam|
    probe_nll: float | None  # nats, at the base weights
    linear_range_share: float
    in_linear_range: bool | None
    n_cohorts: int  # cohorts whose GRPO step is not zero (those the median is over)
    lr: float
    steps: int

    @property
    def ratio(self) -> float | None:
        """The median first-order lift as a share of the probe NLL."""
        if self.first_order_lift_median is None or not self.probe_nll:
            return None
        return self.first_order_lift_median / self.probe_nll

    def as_dict(self, used: bool) -> dict[str, Any]:
        return {
            "first_order_lift_median": self.first_order_lift_median,
            "probe_nll": self.probe_nll,
            "ratio": self.ratio,
            "linear_range_share": self.linear_range_share,
            "in_linear_range": self.in_linear_range,
            "used": used,
            "n_cohorts": self.n_cohorts,
            "lr": self.lr,
            "steps": self.steps,
        }


def _calibrate_default(name: str) -> Any:
    from datalint.calibrate.run import CalibrateOptions

    return next(f.default for f in fields(CalibrateOptions) if f.name == name)


def label_step(card: dict[str, Any]) -> tuple[float, int]:
    """(lr, steps) of the label rule the predictor was fit on: its card's ``grpo_settings``,
    each one that is missing or not a positive number replaced by calibrate's default."""
    settings = card.get("grpo_settings")
    settings = settings if isinstance(settings, dict) else {}
    lr, steps = settings.get("lr"), settings.get("steps")
    if not _positive_number(lr):
        lr = _calibrate_default("lr")
    if not (_positive_number(steps) and float(steps).is_integer()):
        steps = _calibrate_default("steps")
    return float(lr), int(steps)


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def first_order_lift(grad_align_adam: float | None, lr: float, steps: int) -> float | None:
    """The probe-NLL drop the signal predicts for ``steps`` Adam steps of ``lr``, in nats;
    None when the signal is missing or not finite."""
    if grad_align_adam is None or not math.isfinite(grad_align_adam):
        return None
    return lr * steps * grad_align_adam


def linear_range(
    lifts: Sequence[float | None],
    probe_nll: float | None,
    lr: float,
    steps: int,
    share: float = LINEAR_RANGE_SHARE,
) -> LinearRange:
    """Outside when the median over cohorts of |first-order lift| exceeds ``share`` of the
    probe NLL. Cohorts without a signal, and those whose lift is exactly 0 (no problem splits
    its rollouts: GRPO takes no step, and there is no step to be too big), are left out of the
    median; when none is left the median is 0 (inside)."""
    sizes = sorted(abs(v) for v in lifts if v is not None and v != 0)
    median = _median(sizes)
    if probe_nll is None or not math.isfinite(probe_nll) or probe_nll < 0:
        verdict = None
    else:
        verdict = median <= share * probe_nll
    nll = probe_nll if probe_nll is not None and math.isfinite(probe_nll) else None
    return LinearRange(median, nll, share, verdict, len(sizes), lr, steps)


def judge_signals(
    card: dict[str, Any],
    signals: Sequence[dict[str, float | None]],
    probe_nll: float | None,
) -> tuple[list[float | None], LinearRange]:
    """Each cohort's first-order lift under the card's label rule, and the dataset's verdict."""
    lr, steps = label_step(card)
    lifts = [first_order_lift(s.get(ALIGN_SIGNAL), lr, steps) for s in signals]
    return lifts, linear_range(lifts, probe_nll, lr, steps)


def _median(sorted_values: Sequence[float]) -> float:
    n = len(sorted_values)
    if n == 0:
        return 0.0
    mid = n // 2
    if n % 2:
        return float(sorted_values[mid])
    return (sorted_values[mid - 1] + sorted_values[mid]) / 2


def outside_note(name: str, verdict: LinearRange) -> str:
    """The stderr line when the signals are left out."""
    return (
        f"note: gradient signals outside their linear range: the first-order lift "
        f"(lr {verdict.lr:g} x {verdict.steps} steps x {ALIGN_SIGNAL}) has a median size of "
        f"{verdict.first_order_lift_median:.3g} nats, {percent(verdict.ratio)} of the probe NLL "
        f"{verdict.probe_nll:.3g} (limit {percent(verdict.linear_range_share)}); {name} "
        "predicts from the 23 features alone, as its card's 'without gradient signals' rows "
        "measure"
    )


def percent(value: Any) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    percent = 100 * value
    return f"{percent:.2g}%" if percent < 10 else f"{percent:.0f}%"
