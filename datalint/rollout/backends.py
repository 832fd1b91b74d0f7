"""Backend names -> backends, and where the default (shipped) policy model lives."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from datalint.load import InputError
from datalint.rollout.base import RolloutBackend
from datalint.rollout.fingerprint import HashMemo

if TYPE_CHECKING:
    from datalint.rollout.openai_backend import OpenAISettings

BACKEND_NAMES = ("transformers", "vllm", "openai")
# backends whose rollout j depends on (prompt, seed, j) alone (RolloutBackend.prefix_stable)
PREFIX_STABLE = frozenset({"transformers"})
TINY_POLICY = "tiny-policy"


def default_model_dir() -> Path:
    """The shipped tiny policy: inside the installed wheel, else in the source checkout."""
    packaged = Path(str(resources.files("datalint"))) / "_data" / "pretrained" / TINY_POLICY
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "pretrained" / TINY_POLICY


def resolve_model(model: str | None) -> str:
    if model is None:
        path = default_model_dir()
        if not path.is_dir():
            raise InputError(f"the default policy model is missing ({path}); pass --model DIR")
        return str(path)
    if not Path(model).is_dir():
        raise InputError(f"--model {model}: not a directory (a local HF model directory is needed)")
    return model


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """How the policy is run: weights' dtype, device, and the user's system prompt."""

    dtype: str = "float32"
    device: str = "auto"
    system_prompt: str | None = None


def make_backend(
    name: str,
    model: str | None,
    *,
    hash_memo: HashMemo | None = None,
    options: ModelOptions | None = None,
    served: OpenAISettings | None = None,
) -> RolloutBackend:
    """``model`` is a local directory for the in-process backends and the served model's name
    for ``openai`` (None: the one model the server serves)."""
    if name == "openai":
        from datalint.rollout.openai_backend import OpenAIBackend, OpenAISettings, read_api_key

        settings = served if served is not None else OpenAISettings()
        return OpenAIBackend(model, settings, api_key=read_api_key(settings.api_key_env))
    model_dir = resolve_model(model)
    options = options or ModelOptions()
    if name == "transformers":
        from datalint.rollout.transformers_backend import TransformersBackend

        return TransformersBackend(
            model_dir,
            hash_memo=hash_memo,
            dtype=options.dtype,
            device=options.device,
            system_prompt=options.system_prompt,
        )
    if name == "vllm":
        from datalint.rollout.vllm_backend import VllmBackend

        extra = {} if options.device == "auto" else {"device": options.device}
        return VllmBackend(
            model_dir,
            hash_memo=hash_memo,
            system_prompt=options.system_prompt,
            dtype=options.dtype,
            **extra,
        )
    raise InputError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
