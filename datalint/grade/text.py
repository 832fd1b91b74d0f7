"""Text verifiers: ``exact`` (normalized string equality) and ``regex`` (gold is a pattern).

Both take the completion as is: a rollout backend cuts the completion at EOS, so whatever the
policy wrote before EOS is its answer. Text after the answer ("85 junk") makes it wrong, which is
the reward GRPO would give it too.
"""

from __future__ import annotations

import re
from functools import lru_cache

from datalint.grade.base import GradingError
from datalint.load.records import Item

_WHITESPACE = re.compile(r"\s+")


@lru_cache(maxsize=65536)  # gold answers and the tiny world's short completions repeat a lot
def normalize_text(text: str) -> str:
    """Strip, casefold, collapse runs of whitespace to one space, drop one trailing period."""
    text = _WHITESPACE.sub(" ", text.strip()).casefold()
    if text.endswith("."):
        text = text[:-1].rstrip()
    return text


def exact(completion: str, item: Item) -> float:
    return 1.0 if normalize_text(completion) == normalize_text(item.answer_text) else 0.0


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise GradingError(f"gold answer is not a valid regular expression: {exc}") from None


def regex(completion: str, item: Item) -> float:
    """1.0 when the stripped completion fully matches the gold answer read as a Python regex."""
    return 1.0 if _compile(item.answer_text).fullmatch(completion.strip()) else 0.0
