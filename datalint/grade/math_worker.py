"""math-verify in a spawned worker process, every call bounded in time.

math-verify's own timeouts use ``signal.alarm`` (whole seconds, main thread only, 5 s by default)
and its timeout log line prints the raw answer. Here it runs in a separate process whose stderr
goes to /dev/null, with its timeouts off and an interval timer per call instead (a sub-second
budget that raises through math-verify's ``except Exception``). The parent waits the budget plus a
grace period and kills the worker when a call still has not returned (work stuck in C code);
the next call starts a fresh one. The worker ignores SIGINT: Ctrl-C is the parent's to handle.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import sys
import threading
import time
from functools import lru_cache
from typing import Any

from datalint.extras import MissingExtra
from datalint.grade.base import GradingError

_GRACE_SECONDS = 0.5
_START_SECONDS = 120.0  # importing sympy on a loaded machine


class BudgetExceeded(GradingError):
    """A bounded call ran out of its time budget."""


class _CallBudget(BaseException):  # BaseException: math-verify catches Exception and goes on
    pass


# ---- the worker side ---------------------------------------------------------------------------


def _serve(conn: Any) -> None:  # pragma: no cover - runs in the spawned worker
    import logging
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", ".", cwd)]
    logging.disable(logging.CRITICAL)
    try:
        import math_verify
    except ImportError:
        conn.send(("missing", None))
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise _CallBudget()

    signal.signal(signal.SIGALRM, on_alarm)
    ops = _Ops(math_verify)
    ops.warm_up()
    conn.send(("ready", None))
    while True:
        try:
            op, args, budget = conn.recv()
        except (EOFError, OSError):
            return
        ops.budget = budget
        signal.setitimer(signal.ITIMER_REAL, max(budget, 0.001))
        try:
            reply: tuple[str, Any] = ("ok", getattr(ops, op)(*args))
        except _CallBudget:
            reply = ("budget", None)
        except GradingError as exc:
            reply = ("error", str(exc))
        except Exception as exc:
            reply = ("error", f"math-verify failed: {type(exc).__name__}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        conn.send(reply)


_WARM_UP = (
    "1",
    "\\frac{1}{2}",
    "(1, 2)",
    "[1, 3)",
    "\\{1, 2\\}",
    "x^2+1",
    "2\\sqrt{3}",
    "\\begin{pmatrix}1\\\\2\\end{pmatrix}",
    "x = 1",
    "10\\%",
    "\\pi/2",
    "\\sin x + \\log 2",
    "1.5 \\text{ cm}",
    "a \\le b",
)


class _Ops:  # pragma: no cover - runs in the spawned worker
    def __init__(self, mv: Any) -> None:
        self._mv = mv
        self._parsed = lru_cache(maxsize=4096)(self._parse_gold_uncached)
        # gold -> the largest budget its parse ran out of; a call with no more time skips it
        self._out_of_time: dict[str, float] = {}
        self.budget = 0.0  # of the call being served

    def _gold(self, gold: str) -> Any:
        if self._out_of_time.get(gold, -1.0) >= self.budget:
            return None
        try:
            return self._parsed(gold)
        except _CallBudget:
            if len(self._out_of_time) < 4096:
                self._out_of_time[gold] = self.budget
            raise

    def _parse_gold_uncached(self, gold: str) -> Any:
        mv = self._mv
        # A bare gold answer ("3/4", "\frac{3}{4}") is parsed as LaTeX when wrapped in $...$.
        text = gold if "$" in gold or "\\boxed" in gold else f"${gold}$"
        parsed = mv.parse(text, parsing_timeout=None)
        if not parsed:
            parsed = mv.parse(gold, parsing_timeout=None)
        return parsed or None

    def warm_up(self) -> None:
        """Runs sympy's lazily imported paths once, so a first real call is not charged for
        them (a first interval or power costs 0.1-0.2 s, a second one milliseconds)."""
        for gold in _WARM_UP:
            self._parsed(gold)
        self.verify(["\\frac{1}{2}"], "0.5", True)
        self._parsed.cache_clear()

    def parse_gold(self, gold: str) -> bool:
        return self._gold(gold) is not None

    def verify(self, golds: list[str], answer: str, wrap: bool) -> bool:
        mv = self._mv
        parsed_golds = []
        for gold in golds:
            parsed = self._gold(gold)
            if parsed is None:
                raise GradingError(f"math-verify cannot parse the gold answer {gold!r}")
            parsed_golds.append(parsed)
        text = f"${answer}$" if wrap and "$" not in answer else answer
        try:
            parsed_answer = mv.parse(text, parsing_timeout=None)
            if not parsed_answer:
                return False
            return any(mv.verify(g, parsed_answer, timeout_seconds=None) for g in parsed_golds)
        except _CallBudget:
            return False  # a completion that outruns the budget is wrong, as math-verify scores it


# ---- the parent side ---------------------------------------------------------------------------


class MathWorker:
    """One worker process, started on first use, replaced after a call overran its budget."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Any = None

    def call(self, op: str, args: tuple[Any, ...], budget: float) -> Any:
        if budget <= 0:
            raise BudgetExceeded("the item's grading time budget is spent")
        with self._lock:
            conn = self._ensure()
            conn.send((op, args, budget))
            if not conn.poll(budget + _GRACE_SECONDS):
                self.close()
                raise BudgetExceeded(f"math-verify ran past its {budget:.1f} s budget")
            try:
                status, value = conn.recv()
            except (EOFError, OSError):
                self.close()
                raise GradingError("the math-verify worker died") from None
        if status == "budget":
            raise BudgetExceeded(f"math-verify ran past its {budget:.1f} s budget")
        if status == "error":
            raise GradingError(value)
        return value

    def _ensure(self) -> Any:
        if self._process is not None and self._process.is_alive():
            return self._conn
        self.close()
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        process = ctx.Process(
            target=_serve,
            args=(child_conn,),
            name="datalint-math-verify",
            daemon=not multiprocessing.current_process().daemon,
        )
        process.start()
        child_conn.close()
        self._process, self._conn = process, parent_conn
        started = time.monotonic()
        while not parent_conn.poll(0.1):
            if not process.is_alive() or time.monotonic() - started > _START_SECONDS:
                self.close()
                raise GradingError("the math-verify worker did not start")
        status, _ = parent_conn.recv()
        if status == "missing":
            self.close()
            raise MissingExtra("math", "the math verifier uses math-verify")
        return parent_conn

    def close(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)


_WORKER = MathWorker()
atexit.register(_WORKER.close)


def math_call(op: str, args: tuple[Any, ...], budget: float) -> Any:
    """Runs one math-verify operation in the shared worker within ``budget`` seconds."""
    return _WORKER.call(op, args, budget)
