"""The rollout backend interface, sampling parameters and the per-item seed rule.

Every backend returns, for each sampled token, its log-probability and the entropy of the full
next-token distribution under the model's own distribution (softmax of the raw logits, i.e. at
temperature 1), whatever temperature and top-p were used to *sample* the token. That keeps the
logprob features comparable across backends and temperatures (vLLM's default logprobs are raw
too).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from datalint.load.records import Item, Rollout


@dataclass(frozen=True, slots=True)
class SamplingParams:
    n: int = 8
    temperature: float = 1.0
    max_new_tokens: int = 32
    seed: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"rollouts per item must be at least 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max new tokens must be at least 1, got {self.max_new_tokens}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top-p must be in (0, 1], got {self.top_p}")

    def key(self) -> str:
        """A stable text key of everything that changes the samples (the cache key's params part).

        The base seed is part of it because per-item seeds derive from it; floats are written
        with repr so 1 and 1.0 give the same key.
        """
        return (
            f"n={self.n};temperature={float(self.temperature)!r};"
            f"max_new_tokens={self.max_new_tokens};top_p={float(self.top_p)!r};seed={self.seed}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def item_seed(base_seed: int, prompt: str) -> int:
    """The seed of one item: depends only on the base seed and the prompt text.

    So a sample never depends on which other items share its batch, and an edited item gets
    new samples while its unchanged neighbours keep theirs.
    """
    digest = hashlib.sha256(f"{base_seed}\0{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


def sample_seed(seed: int, index: int) -> int:
    """The seed of the index-th rollout of an item whose seed is ``seed``."""
    digest = hashlib.sha256(f"{seed}\0{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


def render_prompt(
    item: Item, tokenizer: Any | None = None, system_prompt: str | None = None
) -> str:
    """The text a backend feeds the model for an item.

    Chat ``messages`` go through the tokenizer's chat template when it has one (with the
    assistant turn opened); otherwise, and for a plain ``prompt``, the item's own text is used.
    A ``system_prompt`` (the user's, from ``--system-prompt``) opens the chat as a system turn,
    unless the item brings its own system turn, which is kept; with it a plain ``prompt`` also
    goes through the chat template as the user turn. A model without a chat template gets the
    system prompt as text, a blank line, then the prompt.
    """
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if item.prompt is None and item.messages:
        messages = _with_system(list(item.messages), system_prompt)
        if template:
            return str(
                tokenizer.apply_chat_template(  # type: ignore[union-attr]
                    messages, tokenize=False, add_generation_prompt=True
                )
            )
        return "\n".join(str(m.get("content", "")) for m in messages)
    if system_prompt:
        if template:
            chat = [
                {"role": "system", "content": system_prompt},
                {"role": "user", "content": item.prompt_text},
            ]
            return str(
                tokenizer.apply_chat_template(  # type: ignore[union-attr]
                    chat, tokenize=False, add_generation_prompt=True
                )
            )
        return f"{system_prompt}\n\n{item.prompt_text}"
    return item.prompt_text


def _with_system(messages: list[dict[str, Any]], system_prompt: str | None) -> list[dict[str, Any]]:
    if not system_prompt or (messages and messages[0].get("role") == "system"):
        return messages
    return [{"role": "system", "content": system_prompt}, *messages]


def empty_rollout() -> Rollout:
    """The rollout of a prompt that leaves no room in the model's context: nothing generated."""
    return Rollout(completion="", logprobs=[], entropies=[], n_tokens=0)


def warn_no_room(count: int) -> None:
    if count:
        print(
            f"datalint: warning: {count} prompts do not fit the model's context; "
            "their rollouts are empty",
            file=sys.stderr,
        )


def rollout_to_dict(rollout: Rollout) -> dict[str, Any]:
    return {
        "completion": rollout.completion,
        "logprobs": rollout.logprobs,
        "entropies": rollout.entropies,
        "n_tokens": rollout.n_tokens,
    }


def rollout_from_dict(data: dict[str, Any]) -> Rollout:
    """A Rollout from its JSON form; raises ValueError naming the field that is wrong."""
    if not isinstance(data, dict):
        raise ValueError("a rollout must be an object")
    completion = data.get("completion")
    if not isinstance(completion, str):
        raise ValueError("a rollout needs a 'completion' string")
    logprobs = _float_list(data.get("logprobs"), "logprobs")
    entropies = _float_list(data.get("entropies"), "entropies")
    n_tokens = data.get("n_tokens")
    if n_tokens is not None and (not isinstance(n_tokens, int) or isinstance(n_tokens, bool)):
        raise ValueError("'n_tokens' must be an integer")
    if n_tokens is None and logprobs is not None:
        n_tokens = len(logprobs)
    reward = data.get("reward")
    if reward is not None and not isinstance(reward, int | float):
        raise ValueError("'reward' must be a number")
    return Rollout(
        completion=completion,
        reward=None if reward is None else float(reward),
        logprobs=logprobs,
        entropies=entropies,
        n_tokens=n_tokens,
    )


def _float_list(value: Any, name: str) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise ValueError(f"'{name}' must be a list of numbers")
    return [float(v) for v in value]


def rollouts_to_json(rollouts: list[Rollout]) -> str:
    return json.dumps([rollout_to_dict(r) for r in rollouts], separators=(",", ":"))


def rollouts_from_json(text: str) -> list[Rollout]:
    return [rollout_from_dict(d) for d in json.loads(text)]


@runtime_checkable
class RolloutBackend(Protocol):
    """Samples ``params.n`` rollouts per prompt.

    ``seeds[i]`` is the seed of ``prompts[i]``; a backend must give the same rollouts for the same
    (prompt, seed) whatever else is in the batch, as far as its kernels allow.

    A backend whose rollout j depends only on (prompt, seed, j), never on n, may say so with
    ``prefix_stable = True`` and take ``generate(..., start=h)`` for rollouts h .. n - 1 alone:
    the rollout stage then extends a group it already has (adaptive k's stages) instead of
    sampling it again.
    """

    name: str

    def fingerprint(self) -> str:
        """Identifies the model weights, config and tokenizer (part of the cache key)."""
        ...

    def render(self, item: Item) -> str:
        """The prompt text this backend would feed the model for ``item``."""
        ...

    def generate(
        self, prompts: list[str], params: SamplingParams, seeds: list[int]
    ) -> list[list[Rollout]]: ...
