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


def _ray(purpose: str = "calibrate --executor ray") -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtra("ray", purpose) from exc
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
    purpose: str = "calibrate --executor ray"  # what a missing extra is needed for

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
        ray = _ray(self.purpose)
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
        wanted = take or (lambda job: True)
        tasks = RayTasks(self, ray, job_fn, initializer, workers)
        bar = _progress(len(jobs), progress and bool(jobs))
        bar_task = bar.add_task("runs", total=len(jobs)) if bar else None
        if bar:
            bar.start()
        queue = list(jobs)
        queue.reverse()
        done = 0
        try:
            while queue or tasks.pending:
                while queue and tasks.pending < tasks.capacity:
                    job = queue.pop()
                    if wanted(job):
                        tasks.submit(job)
                    elif bar:
                        bar.advance(bar_task)
                if not tasks.pending:
                    continue
                _, result = tasks.next_result()
                on_result(result)
                done += 1
                if bar:
                    bar.advance(bar_task)
            return done
        finally:
            if bar:
                bar.stop()
            sys.stderr.flush()

    def session(
        self,
        job_fn: Callable[[J], R],
        *,
        workers: int = 1,
        initializer: Callable[[], None] | None = None,
    ) -> RaySession:
        """A connection for a driver that makes jobs as earlier ones finish (the loop)."""
        return RaySession(self, job_fn, workers, initializer)


class RayTasks:
    """Jobs as Ray tasks on a connected cluster: submit, then take results as they finish. A
    task whose worker or node died is resubmitted (``max_attempts`` in all); a task that raised
    cancels the others and its exception is raised here."""

    def __init__(
        self,
        executor: RayExecutor,
        ray: Any,
        job_fn: Callable[[Any], Any],
        initializer: Callable[[], None] | None,
        workers: int,
    ) -> None:
        self._ray = ray
        self._max_attempts = executor.max_attempts
        self._threads = executor.threads_per_run
        cpus, gpus, slots = executor._resources(ray)
        # the driver resubmits lost tasks itself, so that it sees (and bounds) every attempt
        self._task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_in_worker)
        self._fn_ref = ray.put(job_fn)
        self._init_ref = ray.put(initializer)
        self._pending: dict[Any, tuple[Any, int]] = {}
        self.capacity = 2 * (slots if executor.address else max(1, workers))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def submit(self, job: Any, attempt: int = 1) -> None:
        ref = self._task.remote(self._fn_ref, self._init_ref, self._threads, job)
        self._pending[ref] = (job, attempt)

    def next_result(self) -> tuple[Any, Any]:
        """(job, result) of the next task to finish; needs a pending task."""
        from ray.exceptions import NodeDiedError, RayTaskError, WorkerCrashedError

        while True:
            ready, _ = self._ray.wait(list(self._pending), num_returns=1)
            ref = ready[0]
            job, attempt = self._pending.pop(ref)
            try:
                return job, self._ray.get(ref)
            except (WorkerCrashedError, NodeDiedError) as exc:
                if attempt >= self._max_attempts:
                    raise RayClusterError(
                        f"a run was lost {attempt} times (its worker or node died): "
                        f"{type(exc).__name__}"
                    ) from exc
                self.submit(job, attempt + 1)
            except RayTaskError as exc:
                for other in self._pending:
                    self._ray.cancel(other)
                raise exc.as_instanceof_cause() from None


class RaySession:
    """``with executor.session(job_fn) as tasks:`` a connected cluster (started here when no
    address is given, and stopped on exit) and its :class:`RayTasks`."""

    def __init__(
        self,
        executor: RayExecutor,
        job_fn: Callable[[Any], Any],
        workers: int,
        initializer: Callable[[], None] | None,
    ) -> None:
        self._executor, self._job_fn = executor, job_fn
        self._workers, self._initializer = workers, initializer
        self._started = False

    def __enter__(self) -> RayTasks:
        ray = _ray(self._executor.purpose)
        self._ray = ray
        self._started = self._executor._connect(ray, self._workers)
        try:
            return RayTasks(self._executor, ray, self._job_fn, self._initializer, self._workers)
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False
