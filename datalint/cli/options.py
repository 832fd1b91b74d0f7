"""Options shared by the commands that sample rollouts (`check`, `rollout`), declared once.

A flag left unset falls back to the config file, then to the default here, so the precedence is
the same everywhere: command line > datalint.toml / [tool.datalint] > built-in default.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from datalint.config import Config
    from datalint.rollout.base import SamplingParams

F = TypeVar("F", bound=Callable[..., Any])

DEFAULTS: dict[str, Any] = {
    "backend": "transformers",
    "model": None,
    "rollouts_per_item": 8,
    "temperature": 1.0,
    "max_new_tokens": 256,
    "seed": 0,
    "trust_rollouts": False,
}


class FiniteFloat(click.FloatRange):
    """A float range that also refuses ``nan`` and ``inf`` (click's range lets NaN through,
    because every comparison with NaN is false)."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


_OPTIONS = (
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar="DATALINT_CONFIG",
        help="Config file (datalint.toml or pyproject.toml); skips discovery.",
    ),
    click.option(
        "--backend",
        type=click.Choice(["transformers", "vllm"]),
        default=None,
        help="Policy backend that samples rollouts.  [default: transformers]",
    ),
    click.option(
        "--model",
        envvar="DATALINT_MODEL",
        help="Local HF model directory.  [default: the shipped tiny policy]",
    ),
    click.option(
        "--rollouts-per-item",
        type=click.IntRange(1),
        default=None,
        help="Samples per problem.  [default: 8]",
    ),
    click.option(
        "--temperature",
        type=FiniteFloat(0.0),
        default=None,
        help="Sampling temperature.  [default: 1.0]",
    ),
    click.option(
        "--max-new-tokens",
        type=click.IntRange(1),
        default=None,
        help="Completion length cap (also capped by the model's context).  [default: 256]",
    ),
    click.option(
        "--seed", type=click.IntRange(0), default=None, help="Sampling seed.  [default: 0]"
    ),
    click.option(
        "--trust-rollouts",
        is_flag=True,
        default=None,
        help="Replay rollouts inline in the data (they are the data's claims; rewards are "
        "regraded either way).  [default: ignore them]",
    ),
    click.option("--no-cache", is_flag=True, help="Do not read or write the rollout cache."),
    click.option(
        "--cache-dir",
        type=click.Path(file_okay=False),
        envvar="DATALINT_CACHE_DIR",
        help="Rollout cache folder.  [default: the user cache dir]",
    ),
)


def sampling_options(func: F) -> F:
    """Adds --config and the sampling and cache options, in a stable order for --help."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def pick(flags: dict[str, Any], config: Config, name: str, default: Any = None) -> Any:
    """The flag if given, else the config key (kebab-case), else the default."""
    value = flags.get(name)
    if value is not None:
        return value
    fallback = DEFAULTS.get(name, default)
    return config.get(name.replace("_", "-"), fallback)


def sampling_params(flags: dict[str, Any], config: Config) -> SamplingParams:
    from datalint.rollout.base import SamplingParams

    return SamplingParams(
        n=pick(flags, config, "rollouts_per_item"),
        temperature=float(pick(flags, config, "temperature")),
        max_new_tokens=pick(flags, config, "max_new_tokens"),
        seed=pick(flags, config, "seed"),
    )
