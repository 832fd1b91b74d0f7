"""Text verifiers: ``exact`` (normalized string equality) and ``regex`` (gold is a pattern).

Both take the completion as is: a rollout backend cuts the completion at EOS, so whatever the
policy wrote before EOS is its answer. Text after the answer ("85 junk") makes it wrong, which is
the reward GRPO would give it too. A list of golds accepts any of them.

The pattern of ``regex`` comes from the data, so it runs on RE2 (``google-re2``): matching is
linear in the completion whatever the pattern, and its memory is capped. RE2 has no
backreferences or lookaround; such a pattern is a grading error for its item, never a hang.
Without ``google-re2`` the ``regex`` package runs it with a timeout instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from datalint.grade.base import GradingError, gold_texts
from datalint.grade.budget import call_budget
from datalint.load.records import Item

_WHITESPACE = re.compile(r"\s+")
_RE2_MAX_MEM = 8 << 20  # bytes of compiled program + DFA cache per pattern
_MAX_PATTERN_CHARS = 10_000


@lru_cache(maxsize=65536)  # gold answers and the tiny world's short completions repeat a lot
def normalize_text(text: str) -> str:
    """Strip, casefold, collapse runs of whitespace to one space, drop one trailing period."""
    text = _WHITESPACE.sub(" ", text.strip()).casefold()
    if text.endswith("."):
        text = text[:-1].rstrip()
    return text


def exact(completion: str, item: Item) -> float:
    answer = normalize_text(completion)
    return 1.0 if any(answer == normalize_text(g) for g in gold_texts(item)) else 0.0


Matcher = Callable[[str], bool]


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Matcher:
    """A full-match test for ``pattern``, linear in its input; GradingError when unusable."""
    if len(pattern) > _MAX_PATTERN_CHARS:
        raise GradingError(
            f"gold pattern is {len(pattern)} characters (limit {_MAX_PATTERN_CHARS})"
        )
    try:
        import re2
    except ImportError:
        return _compile_with_timeout(pattern)
    options = re2.Options()
    options.log_errors = False  # RE2 would print the raw pattern to stderr
    options.max_mem = _RE2_MAX_MEM
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        reason = (
            exc.args[0].decode("utf-8", "replace")
            if exc.args and isinstance(exc.args[0], bytes)
            else str(exc)
        )
        raise GradingError(
            f"gold answer is not a regular expression RE2 accepts: {reason} "
            "(RE2 has no backreferences or lookaround)"
        ) from None
    return lambda text: compiled.fullmatch(text) is not None


def _compile_with_timeout(pattern: str) -> Matcher:
    try:
        import regex as regex_module
    except ImportError:
        raise GradingError(
            "the regex verifier needs google-re2 (pip install google-re2) or the regex package"
        ) from None
    try:
        compiled = regex_module.compile(pattern)
    except regex_module.error as exc:
        raise GradingError(f"gold answer is not a valid regular expression: {exc}") from None

    def matches(text: str) -> bool:
        try:
            return compiled.fullmatch(text, timeout=max(call_budget(), 0.001)) is not None
        except TimeoutError:
            raise GradingError("the gold pattern ran past its time budget") from None

    return matches


def regex(completion: str, item: Item) -> float:
    """1.0 when the stripped completion fully matches a gold answer read as a pattern."""
    text = completion.strip()
    patterns = gold_texts(item)
    if not patterns:
        raise GradingError("the item has no gold answer")
    return 1.0 if any(compile_pattern(p)(text) for p in patterns) else 0.0
