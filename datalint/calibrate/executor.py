"""Run independent jobs in spawned worker processes and hand each result back as it finishes.

Results come back to the calling process, which alone writes the store: one writer, each result
committed before the next is awaited, so a kill loses only the jobs in flight.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

J = TypeVar("J")
R = TypeVar("R")


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("GRPO runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def execute(
    jobs: Sequence[J],
    job_fn: Callable[[J], R],
    on_result: Callable[[R], None],
    *,
    workers: int = 1,
    initializer: Callable[[], None] | None = None,
    progress: bool = False,
    take: Callable[[J], bool] | None = None,
) -> int:
    """Run ``job_fn`` over ``jobs`` (``workers`` spawned processes; 1 = in this process).

    ``job_fn`` and ``initializer`` must be importable module-level functions (spawn pickles them
    by name). Returns the number of jobs finished. A failing job raises in the caller after the
    results that finished before it were handed to ``on_result``. ``take``, when given, is asked
    just before each job starts (in this process) and a job it refuses is skipped: that is how
    two calibrations on one store share the work (:meth:`CalibrationStore.claim`).
    """
    wanted = take or (lambda job: True)
    bar = _progress(len(jobs), progress and bool(jobs))
    task = bar.add_task("runs", total=len(jobs)) if bar else None
    done = 0
    if bar:
        bar.start()
    try:
        if workers <= 1:
            if initializer is not None:
                initializer()
            for job in jobs:
                if not wanted(job):
                    if bar:
                        bar.advance(task)
                    continue
                on_result(job_fn(job))
                done += 1
                if bar:
                    bar.advance(task)
            return done
        # children inherit the environment at spawn: one BLAS/OpenMP thread each from the start
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=initializer) as pool:
            pending: set[Future[R]] = set()
            queue = list(jobs)
            queue.reverse()
            # keep only a few jobs queued so an interrupt does not leave many to cancel
            while queue or pending:
                while queue and len(pending) < 2 * workers:
                    job = queue.pop()
                    if wanted(job):
                        pending.add(pool.submit(job_fn, job))
                    elif bar:
                        bar.advance(task)
                if not pending:
                    continue
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                error: BaseException | None = None
                for future in finished:
                    if future.exception() is not None:
                        error = error or future.exception()
                        continue
                    on_result(future.result())
                    done += 1
                    if bar:
                        bar.advance(task)
                if error is not None:
                    for future in pending:
                        future.cancel()
                    raise error
        return done
    finally:
        if bar:
            bar.stop()
        sys.stderr.flush()
