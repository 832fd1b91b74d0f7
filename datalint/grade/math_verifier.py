"""The ``math`` verifier: math-verify's ``parse`` + ``verify`` (the ``math`` extra).

math-verify bounds each parse and comparison with ``signal.alarm``, which only works in the main
thread of a process. In the main thread we keep its timeouts; anywhere else (a thread pool) we
turn them off, as its docs advise, rather than let every rollout fail with a ValueError.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from datalint.extras import MissingExtra
from datalint.grade.base import GradingError
from datalint.load.records import Item

TIMEOUT_SECONDS = 5


def _math_verify() -> Any:
    try:
        import math_verify
    except ImportError:
        raise MissingExtra("math", "the math verifier uses math-verify") from None
    return math_verify


def _timeout() -> int | None:
    return TIMEOUT_SECONDS if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=4096)
def _parsed_gold(gold: str) -> Any:
    mv = _math_verify()
    # A bare gold answer ("3/4", "\frac{3}{4}") is parsed as LaTeX when wrapped in $...$.
    text = gold if "$" in gold or "\\boxed" in gold else f"${gold}$"
    parsed = mv.parse(text, parsing_timeout=_timeout())
    if not parsed:
        parsed = mv.parse(gold, parsing_timeout=_timeout())
    if not parsed:
        raise GradingError(f"math-verify cannot parse the gold answer {gold!r}")
    return parsed


def math_answer(completion: str, item: Item) -> float:
    mv = _math_verify()
    gold = _parsed_gold(item.answer_text)
    answer = mv.parse(completion, parsing_timeout=_timeout())
    if not answer:
        return 0.0
    return 1.0 if mv.verify(gold, answer, timeout_seconds=_timeout()) else 0.0
