"""Run independent jobs as Ray tasks: the second executor behind :func:`execute`'s interface.

Each job is one Ray task that declares what it needs (``threads_per_run`` CPUs and, on GPU
boxes, ``gpus_per_run`` GPUs), so Ray places as many at once as the cluster holds. Results come
back to the driver, which alone writes the store, as they finish. A task whose worker process
or node dies is resubmitted by the driver (up to ``max_attempts`` in all); the driver hands each
job's result to ``on_result`` at most once, and :meth:`CalibrationStore.add_run` refuses a run
already stored, so a re-run is never counted twice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from datalint.calibrate.executor import _progress
from datalint.errors import DatalintError
from datalint.extras import MissingExtra

J = TypeVar("J")
R = TypeVar("R")

_initialized: set[int] = set()  # id()s of the initializers this worker process has run


class RayClusterError(DatalintError, RuntimeError):
    """The cluster cannot be joined, or it lacks what one run asks for."""


def _in_worker(
    job_fn: Callable[[Any], Any],
    initializer: Callable[[], None] | None,
    threads: int,
    job: Any,
) -> Any:
    """The task body: the pool's initializer once per worker process, then the job."""
    if initializer is not None and id(initializer) not in _initialized:
        initializer()
        _initialized.add(id(initializer))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None and threads > 1:  # init_worker pins one thread; honour the declared CPUs
        torch.set_num_threads(threads)
    return job_fn(job)


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtra("ray", "calibrate --executor ray") from exc
    return ray


@dataclass(slots=True)
class RayExecutor:
    """:func:`datalint.calibrate.executor.execute`, with Ray tasks instead of local processes.

    ``address`` joins a running cluster (``ray start --head`` prints it; ``auto`` finds a local
    one); without it a private local cluster of ``workers * threads_per_run`` CPUs is started and
    stopped here. ``gpus_per_run`` None asks for one GPU per run when the cluster has GPUs.
    """

    address: str | None = None
    threads_per_run: int = 1
    gpus_per_run: float | None = None
    max_attempts: int = 3

    def __call__(
        self,
        jobs: Sequence[J],
        job_fn: Callable[[J], R],
        on_result: Callable[[R], None],
        *,
        workers: int = 1,
        initializer: Callable[[], None] | None = None,
        progress: bool = False,
        take: Callable[[J], bool] | None = None,
    ) -> int:
        ray = _ray()
        if not jobs:  # a resume with every run stored starts no cluster
            return 0
        started = self._connect(ray, workers)
        try:
            return self._run(ray, jobs, job_fn, on_result, workers, initializer, progress, take)
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray: Any, workers: int) -> bool:
        if ray.is_initialized():
            return False
        quiet = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        try:
            if self.address:
                ray.init(address=self.address, **quiet)
            else:
                ray.init(num_cpus=max(1, workers) * self.threads_per_run, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a local cluster"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RayClusterError(f"cannot start or join Ray at {where}: {first}") from exc
        return True

    def _resources(self, ray: Any) -> tuple[float, float, int]:
        """(CPUs, GPUs) one run asks for, and how many runs the cluster holds at once."""
        total = ray.cluster_resources()
        cpus, gpus_have = float(total.get("CPU", 0)), float(total.get("GPU", 0))
        gpus = self.gpus_per_run
        if gpus is None:
            gpus = 1.0 if gpus_have >= 1 else 0.0
        if cpus < self.threads_per_run or gpus > gpus_have:
            raise RayClusterError(
                f"each run asks for {self.threads_per_run} CPU and {gpus:g} GPU, "
                f"but the cluster has {cpus:g} CPU and {gpus_have:g} GPU"
            )
        slots = int(cpus // self.threads_per_run)
        if gpus > 0:
            slots = min(slots, int(gpus_have // gpus))
        return float(self.threads_per_run), gpus, max(1, slots)

    def _run(
        self,
        ray: Any,
        jobs: Sequence[J],
        job_fn: Callable[[J], R],
        on_result: Callable[[R], None],
        workers: int,
        initializer: Callable[[], None] | None,
        progress: bool,
        take: Callable[[J], bool] | None,
    ) -> int:
        from ray.exceptions import NodeDiedError, RayTaskError, WorkerCrashedError

        lost = (WorkerCrashedError, NodeDiedError)
        wanted = take or (lambda job: True)
        cpus, gpus, slots = self._resources(ray)
        # the driver resubmits lost tasks itself, so that it sees (and bounds) every attempt
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_in_worker)
        fn_ref = ray.put(job_fn)
        init_ref = ray.put(initializer)
        bar = _progress(len(jobs), progress and bool(jobs))
        bar_task = bar.add_task("runs", total=len(jobs)) if bar else None
        if bar:
            bar.start()
        queue = list(jobs)
        queue.reverse()
        pending: dict[Any, tuple[J, int]] = {}
        done = 0
        limit = 2 * (slots if self.address else max(1, workers))
        try:
            while queue or pending:
                while queue and len(pending) < limit:
                    job = queue.pop()
                    if wanted(job):
                        ref = task.remote(fn_ref, init_ref, self.threads_per_run, job)
                        pending[ref] = (job, 1)
                    elif bar:
                        bar.advance(bar_task)
                if not pending:
                    continue
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    job, attempt = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except lost as exc:
                        if attempt >= self.max_attempts:
                            raise RayClusterError(
                                f"a run was lost {attempt} times (its worker or node died): "
                                f"{type(exc).__name__}"
                            ) from exc
                        again = task.remote(fn_ref, init_ref, self.threads_per_run, job)
                        pending[again] = (job, attempt + 1)
                        continue
                    except RayTaskError as exc:
                        for other in pending:
                            ray.cancel(other)
                        cause = exc.as_instanceof_cause()
                        raise cause from None
                    on_result(result)
                    done += 1
                    if bar:
                        bar.advance(bar_task)
            return done
        finally:
            if bar:
                bar.stop()
            sys.stderr.flush()
