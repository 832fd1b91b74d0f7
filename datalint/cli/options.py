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
    from datalint.grade.settings import Grading
    from datalint.rollout.backends import ModelOptions
    from datalint.rollout.base import SamplingParams
    from datalint.rollout.openai_backend import OpenAISettings

F = TypeVar("F", bound=Callable[..., Any])

DEFAULTS: dict[str, Any] = {
    "backend": "transformers",
    "model": None,
    "rollouts_per_item": 8,
    "temperature": 1.0,
    "max_new_tokens": 256,
    "seed": 0,
    "trust_rollouts": False,
    "adaptive_k": False,
    "adaptive_first": 2,
    "adaptive_budget": 0.5,
    "dtype": "float32",
    "device": "auto",
}
DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")

# The options that say how the policy model runs (check, rollout and calibrate share them).
MODEL_OPTIONS = (
    click.option(
        "--dtype",
        type=click.Choice(DTYPES),
        default=None,
        help="Weights' dtype for sampling (half precision is for GPUs).  [default: float32]",
    ),
    click.option(
        "--device",
        type=click.Choice(DEVICES),
        default=None,
        help="Where the transformers backend runs.  [default: auto, cuda when available]",
    ),
    click.option(
        "--system-prompt",
        default=None,
        help="System turn for chat models (e.g. the answer format); see docs/rollouts.md.",
    ),
)


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
        type=click.Choice(["transformers", "vllm", "openai"]),
        default=None,
        help="Policy backend that samples rollouts.  [default: transformers]",
    ),
    click.option(
        "--model",
        envvar="DATALINT_MODEL",
        help="Local HF model directory; with --backend openai, the model name the server "
        "serves.  [default: the shipped tiny policy; openai: the one served model]",
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
        "--adaptive-k",
        is_flag=True,
        default=None,
        help="Sample --adaptive-first rollouts per problem, then grow (doubling up to "
        "--rollouts-per-item) the problems whose full group could still disagree, within "
        "--adaptive-budget.  [default: always the full group]",
    ),
    click.option(
        "--adaptive-first",
        type=click.IntRange(1),
        default=None,
        help="With --adaptive-k: the rollouts every problem gets first.  [default: 2]",
    ),
    click.option(
        "--adaptive-budget",
        type=FiniteFloat(0, 1, min_open=True),
        default=None,
        help="With --adaptive-k: the most rollouts spent, as a share of fixed k's.  [default: 0.5]",
    ),
    click.option(
        "--trust-rollouts",
        is_flag=True,
        default=None,
        help="Replay rollouts inline in the data (they are the data's claims; rewards are "
        "regraded either way).  [default: ignore them]",
    ),
    *MODEL_OPTIONS,
    click.option("--no-cache", is_flag=True, help="Do not read or write the rollout cache."),
    click.option(
        "--cache-dir",
        type=click.Path(file_okay=False),
        envvar="DATALINT_CACHE_DIR",
        help="Rollout cache folder.  [default: the user cache dir]",
    ),
    # -- --backend openai (a served model) ----------------------------------------------------
    click.option(
        "--base-url",
        envvar="DATALINT_BASE_URL",
        help="openai backend: the server's URL including /v1, e.g. http://gpu-box:8000/v1.",
    ),
    click.option(
        "--api-key-env",
        metavar="VAR",
        help="openai backend: environment variable holding the API key.  [default: "
        "OPENAI_API_KEY when set; no key otherwise]",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(1, 1024),
        default=None,
        help="openai backend: requests in flight at once.  [default: 8]",
    ),
    click.option(
        "--request-timeout",
        type=FiniteFloat(0.1),
        default=None,
        help="openai backend: seconds per request before it is retried.  [default: 300]",
    ),
    click.option(
        "--model-revision",
        help="openai backend: your name for the served weights' version (part of the cache "
        "key; set it when you redeploy under the same name).",
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


def answer_extraction_option(func: F) -> F:
    """``--answer-extraction``: how numeric and math verifiers read an answer from a completion."""
    from datalint.grade.settings import EXTRACTION_MODES

    return click.option(
        "--answer-extraction",
        type=click.Choice(EXTRACTION_MODES),
        default=None,
        help="How numeric/math read the answer (docs/verifiers.md).  [default: strict]",
    )(func)


def grading_setup(flags: dict[str, Any], config: Config) -> Grading:
    """The run's grading: default verifier, extraction mode and the config's ``[verifiers]``,
    with every configured verifier imported now, so a broken one fails before any sampling."""
    from datalint.config import ConfigError
    from datalint.grade.base import GradingError
    from datalint.grade.registry import classify, import_configured, known_names
    from datalint.grade.settings import Grading

    grading = Grading.build(
        default_verifier=pick(flags, config, "default_verifier", "exact"),
        verifiers=config.get("verifiers") or {},
        extraction=pick(flags, config, "answer_extraction", "strict"),
    )
    where = f"{config.path}: " if config.path else ""
    try:
        import_configured(grading)
    except GradingError as exc:
        prefix = "tool.datalint." if config.path and config.path.endswith("pyproject.toml") else ""
        raise ConfigError(f"{where}{prefix}{exc}") from None
    if classify(grading.default_verifier, grading) in ("import-string", "unknown"):
        raise ConfigError(
            f"default verifier {grading.default_verifier!r} is not a known verifier "
            f"(known: {', '.join(known_names(grading))}; map a name under [verifiers])"
        )
    return grading


def model_options(flags: dict[str, Any], config: Config) -> ModelOptions:
    """--dtype/--device/--system-prompt (or their config keys), checked against their choices."""
    from datalint.config import ConfigError
    from datalint.rollout.backends import ModelOptions

    dtype, device = pick(flags, config, "dtype"), pick(flags, config, "device")
    for key, value, choices in (("dtype", dtype, DTYPES), ("device", device, DEVICES)):
        if value not in choices:
            raise ConfigError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
    system_prompt = pick(flags, config, "system_prompt") or None
    return ModelOptions(dtype=dtype, device=device, system_prompt=system_prompt)


# Where GRPO runs go (calibrate and loop share them).
CLUSTER_OPTIONS = (
    click.option(
        "--executor",
        type=click.Choice(["process", "ray"]),
        default="process",
        show_default=True,
        help="Where GRPO runs go: local worker processes, or Ray tasks (the 'ray' extra).",
    ),
    click.option(
        "--address",
        "ray_address",
        help="Join this Ray cluster (ray start --head prints it; 'auto' finds a local one). "
        "Without it, --executor ray starts a private local cluster of --workers runs.",
    ),
    click.option(
        "--threads-per-run",
        type=click.IntRange(1),
        default=1,
        show_default=True,
        help="CPU threads each GRPO run uses (and declares to Ray).",
    ),
    click.option(
        "--gpus-per-run",
        type=FiniteFloat(0),
        help="GPUs each Ray task declares (fractions share one).  [default: 1 on a cluster "
        "with GPUs, else 0]",
    ),
)


def cluster_option_flags(func: F) -> F:
    """Adds --executor, --address, --threads-per-run and --gpus-per-run."""
    for option in reversed(CLUSTER_OPTIONS):
        func = option(func)
    return func


def model_option_flags(func: F) -> F:
    """Adds --dtype, --device and --system-prompt (for commands without sampling_options)."""
    for option in reversed(MODEL_OPTIONS):
        func = option(func)
    return func


def served_settings(flags: dict[str, Any], config: Config) -> OpenAISettings | None:
    """The openai backend's settings, validated now (before any data is read); None for the
    in-process backends. Reads the API key only to check that a named variable is set."""
    if pick(flags, config, "backend") != "openai":
        return None
    from datalint.errors import DatalintError
    from datalint.rollout.openai_backend import (
        DEFAULT_CONCURRENCY,
        DEFAULT_REQUEST_TIMEOUT_S,
        OpenAISettings,
        read_api_key,
    )
    from datalint.rollout.served_http import normalize_base_url

    base_url = pick(flags, config, "base_url")
    if not base_url:
        raise DatalintError("--backend openai needs --base-url (the server's URL including /v1)")
    settings = OpenAISettings(
        base_url=normalize_base_url(base_url),
        api_key_env=pick(flags, config, "api_key_env"),
        concurrency=pick(flags, config, "concurrency", DEFAULT_CONCURRENCY),
        request_timeout_s=float(pick(flags, config, "request_timeout", DEFAULT_REQUEST_TIMEOUT_S)),
        model_revision=pick(flags, config, "model_revision"),
    )
    if settings.concurrency < 1 or settings.request_timeout_s <= 0:
        raise DatalintError("concurrency must be at least 1 and request-timeout positive")
    read_api_key(settings.api_key_env)
    return settings


_FIELD_OPTIONS = (
    click.option(
        "--field",
        "field_specs",
        multiple=True,
        metavar="TARGET=COLUMN",
        help="Read a field from another column, e.g. prompt=problem or "
        "answer=reward_model.ground_truth (dotted paths; repeatable; wins over layout detection).",
    ),
    click.option("--input-key", help="OpenRLHF spelling of --field prompt=COLUMN."),
    click.option("--label-key", help="OpenRLHF spelling of --field answer=COLUMN."),
)


def field_options(func: F) -> F:
    """--field / --input-key / --label-key, for every command that reads data."""
    for option in reversed(_FIELD_OPTIONS):
        func = option(func)
    return func


def field_mapping(flags: dict[str, Any], config: Config) -> dict[str, str] | None:
    """The explicit field mapping: the config's ``[fields]``, then the flags (which win)."""
    from datalint.load.fields import merge_fields, parse_field_options

    specs = list(flags.get("field_specs") or ())
    if flags.get("input_key"):
        specs.append(f"prompt={flags['input_key']}")
    if flags.get("label_key"):
        specs.append(f"answer={flags['label_key']}")
    return merge_fields(config.get("fields"), parse_field_options(specs))
