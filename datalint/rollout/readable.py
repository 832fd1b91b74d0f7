"""Can the model read a prompt at all? Its context length and its vocabulary, checked up front.

A prompt that leaves no room in the model's context gets no rollouts, and one whose characters
the tokenizer maps to its unknown token (or drops) is read as something else: in both cases the
model's pass rate says nothing about the item, so such items are flagged (S022 / S023 at
file:line), not sampled, and left out of their cohort's features.

Prompts are cut to ``CHARS_PER_TOKEN_BOUND`` characters per context position *before* they are
tokenized, so a hostile multi-megabyte prompt costs a bounded amount of memory: one longer than
that bound cannot fit and is flagged without being tokenized.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

# No tokenizer in common use averages more than a few characters per token on real text; a
# prompt with more than 8 characters per context position is taken as overflowing unread.
CHARS_PER_TOKEN_BOUND = 8
_SAMPLE_CHARS = 5


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Why the model cannot read one prompt (either or both of the two reasons)."""

    context: int  # the model's context, in tokens
    room: int  # new tokens the prompt must leave room for
    tokens: int | None  # prompt tokens; None when the prompt was over the bound, not tokenized
    chars: int  # prompt length in characters
    unknown: int = 0  # tokens outside the vocabulary (unknown token, or characters dropped)
    unknown_sample: str = ""  # a few of the characters the tokenizer does not know

    @property
    def overflows(self) -> bool:
        return self.tokens is None or self.tokens + self.room > self.context

    def context_detail(self) -> str:
        if self.tokens is None:
            bound = CHARS_PER_TOKEN_BOUND * self.context
            return (
                f"{self.chars} characters, over the {bound} that a {self.context}-token context "
                "can hold; not tokenized"
            )
        needs = f" plus {self.room} new" if self.room > 1 else ""
        return f"{self.tokens} tokens{needs}, over the model's context of {self.context}"

    def vocabulary_detail(self) -> str:
        sample = f" (such as {self.unknown_sample!r})" if self.unknown_sample else ""
        return f"{self.unknown} tokens unknown to its tokenizer{sample}"

    def describe(self) -> str:
        parts = []
        if self.overflows:
            parts.append("does not fit: " + self.context_detail())
        if self.unknown:
            parts.append(self.vocabulary_detail())
        return "; ".join(parts)

    def to_json(self) -> str:
        return json.dumps({"unreadable": asdict(self)}, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Unreadable:
        return cls(**data)


class PromptReader:
    """Assesses prompts against one tokenizer and context length (None: no context limit)."""

    def __init__(self, tokenizer: Any, context: int | None) -> None:
        self.tokenizer = tokenizer
        self.context = context

    @property
    def bound(self) -> int | None:
        return None if self.context is None else CHARS_PER_TOKEN_BOUND * self.context

    def assess(self, prompt: str, room: int = 1) -> Unreadable | None:
        bound = self.bound
        if bound is not None and len(prompt) > bound:
            assert self.context is not None
            return Unreadable(self.context, room, None, len(prompt))
        ids = list(self.tokenizer(prompt)["input_ids"])  # as the backend encodes it
        unknown, sample = self._unknown(prompt, ids)
        context = self.context
        overflows = context is not None and len(ids) + room > context
        if not overflows and not unknown:
            return None
        return Unreadable(
            context if context is not None else 0, room, len(ids), len(prompt), unknown, sample
        )

    def _unknown(self, prompt: str, ids: list[int]) -> tuple[int, str]:
        unk = getattr(self.tokenizer, "unk_token_id", None)
        if unk is not None:
            count = sum(1 for i in ids if i == unk)
            if not count:
                return 0, ""
            known = set(
                self.tokenizer.decode([i for i in ids if i != unk], skip_special_tokens=True)
            )
            return count, _sample(ch for ch in prompt if ch not in known and not ch.isspace())
        # No unknown token: a tokenizer that drops what it cannot encode loses characters.
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        decoded = Counter(ch for ch in text if not ch.isspace())
        wanted = Counter(ch for ch in prompt if not ch.isspace())
        lost = wanted - decoded
        return sum(lost.values()), _sample(ch for ch in prompt if ch in lost)


def _sample(chars: Any) -> str:
    return "".join(list(dict.fromkeys(chars))[:_SAMPLE_CHARS])


def cut(prompt: str, context: int | None) -> str:
    """The prefix of ``prompt`` that is ever worth tokenizing for a ``context``-token model;
    shorter than ``prompt`` exactly when the prompt is over the bound (and cannot fit)."""
    if context is None:
        return prompt
    return prompt[: CHARS_PER_TOKEN_BOUND * context]


def unreadable_prompts(
    prompts: list[str], backend: Any, room: int = 1
) -> list[tuple[int, Unreadable]]:
    """(index, why) of the prompts ``backend`` cannot read with ``room`` new tokens; none for a
    backend that cannot tell (no ``assess_prompts``). The pre-flight of ``calibrate``; ``check``
    gets the same verdicts from the rollout stage."""
    assess = getattr(backend, "assess_prompts", None)
    if assess is None:
        return []
    verdicts = assess(prompts, room)
    return [(i, why) for i, why in enumerate(verdicts) if why is not None]
