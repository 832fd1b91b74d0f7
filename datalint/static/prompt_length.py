"""Prompt length: S008 (empty, whitespace-only counts) and S009 (overlong) read this metric."""

from __future__ import annotations

from datalint.engine import Gate
from datalint.load.records import Item

FEATURE = "prompt_chars"


class PromptLength:
    """Reports ``prompt_chars``: characters of the prompt, surrounding whitespace removed."""

    def feed(self, item: Item, gate: Gate) -> None:
        gate.observe(FEATURE, len(item.prompt_text.strip()), item.source)

    def finish(self, gate: Gate) -> None:
        return None
