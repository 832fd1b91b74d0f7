"""The typed records that flow through the pipeline: items, rollouts and where each came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Source:
    """Where a record came from: the file as the user named it, and the 1-based line."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(slots=True)
class Rollout:
    """One sampled completion for one item.

    ``logprobs`` holds the log-probability of each sampled token; ``entropies`` the entropy (nats)
    of the full next-token distribution at each step. Either may be None when the source of the
    rollout did not record it (a replayed trace), in which case logprob features are missing.
    """

    completion: str
    reward: float | None = None
    logprobs: list[float] | None = None
    entropies: list[float] | None = None
    n_tokens: int | None = None


Answer = str | int | float | list[str]


@dataclass(slots=True)
class Item:
    """One problem with a verifiable answer, as read from a data file.

    ``answer`` is a list when the data accepts several answers (Skywork-OR1's ``ground_truth``,
    or a native ``answer`` array); ``layout`` names the layout the record was read in.
    """

    source: Source
    answer: Answer
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    id: str | None = None
    subject: str | None = None
    verifier: str | None = None
    choices: list[str] | None = None
    cohort: str | None = None
    meta: dict[str, Any] | None = None
    rollouts: list[Rollout] | None = None
    layout: str = "native"

    @property
    def prompt_text(self) -> str:
        """The text a policy is prompted with: ``prompt``, else the chat messages joined."""
        if self.prompt is not None:
            return self.prompt
        if self.messages:
            return "\n".join(str(m.get("content", "")) for m in self.messages)
        return ""

    @property
    def answers(self) -> list[str]:
        """Every accepted gold answer, as text (one for most data)."""
        if isinstance(self.answer, list):
            return [str(a) for a in self.answer]
        return [str(self.answer)]

    @property
    def answer_text(self) -> str:
        """The gold answer as text; the first accepted one when there are several."""
        if isinstance(self.answer, list):
            return str(self.answer[0]) if self.answer else ""
        return str(self.answer)


@dataclass(slots=True)
class Cohort:
    """A handful of items that GRPO would train on together."""

    id: str
    items: list[Item] = field(default_factory=list)

    @property
    def sources(self) -> list[Source]:
        return [it.source for it in self.items]
