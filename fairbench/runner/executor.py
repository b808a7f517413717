"""Pluggable executors: they only map ``run_job`` over jobs, each job after the jobs it needs.

``map(jobs, store_root)`` takes jobs ordered dependencies first (:func:`fairbench.runner.plan.with_dependencies`)
and yields one :class:`Outcome` per job. A job is started only once every job it needs that is in
``jobs`` has finished (a dependency not in ``jobs`` is already in the store); whether a dependency
succeeded is read from the store by ``run_job`` itself, so a failed dependency fails its dependants
with its own status and a note naming it, under every executor. ``map`` reports its progress as a
:class:`Tally` to an optional ``watch`` callback; ``close()`` lets go of what an executor keeps between
maps (a Ray connection). A distributed engine is one more class with the same
``map``: :mod:`fairbench.runner.ray_executor` runs ``run_job`` as Ray tasks against worker-local stores
and installs the records that come back into the driver's store; methods and tables stay untouched.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..core.determinism import limit_worker_threads
from ..core.registry import Registry
from ..core.status import RunStatus
from .jobs import Job, Outcome, run_job

LOCAL = "local"  # the default: a process pool with --jobs N > 1, else the serial executor


@dataclass
class Tally:
    """An executor's progress (the bar counts finished jobs itself): running (started, not finished), failed
    (crashed or invalid: finished without a record for a reason to fix), unavailable (no record because the
    data or a method is not here, as the reproduce summary counts them) and retried (attempts started again
    after a crash or a lost worker)."""

    running: int = 0
    failed: int = 0
    unavailable: int = 0
    retried: int = 0

    def describe(self) -> str:
        return (f"running {self.running}, failed {self.failed}, "
                + (f"unavailable {self.unavailable}, " if self.unavailable else "") + f"retried {self.retried}")


Watch = Callable[[Tally], None]


class Tracker:
    """A :class:`Tally` and the callback told each time it changes."""

    def __init__(self, watch: Watch | None):
        self.tally = Tally()
        self._watch = watch

    def running(self, count: int) -> None:
        if count != self.tally.running:
            self.tally.running = count
            self._tell()

    def finished(self, outcome: Outcome) -> None:
        self.tally.failed += outcome.status in (RunStatus.CRASHED, RunStatus.INVALID)
        self.tally.unavailable += outcome.status in (RunStatus.MISSING_DATA, RunStatus.NOT_IMPLEMENTED)
        self._tell()

    def retried(self) -> None:
        self.tally.retried += 1
        self._tell()

    def _tell(self) -> None:
        if self._watch is not None:
            self._watch(self.tally)


class SerialExecutor:
    def __init__(self, jobs: int = 1):
        del jobs

    def close(self) -> None:
        """Nothing is held between maps."""

    def map(self, jobs: Iterable[Job], store_root: Path, watch: Watch | None = None) -> Iterator[Outcome]:
        progress = Tracker(watch)
        for job in jobs:  # in order: dependencies come first
            progress.running(1)
            outcome = run_job(job, store_root)
            progress.running(0)
            progress.finished(outcome)
            yield outcome


class DependencyGate:
    """Which of a list of jobs may start: those whose dependencies in the list have all finished. Each job
    counts its unfinished dependencies and is released when the last one finishes, so a plan of n jobs
    costs O(n + edges), not a scan of every waiting job after each one finishes."""

    def __init__(self, jobs: Iterable[Job]):
        jobs = list(jobs)
        listed = {job.key for job in jobs}
        self._blocking: dict[int, int] = {}  # position in the list -> dependencies not finished yet
        self._dependants: dict[str, list[tuple[int, Job]]] = {}
        self._released: list[tuple[int, Job]] = []
        for position, job in enumerate(jobs):
            deps = {dep.key for _, dep in job.needs if dep.key in listed}
            for key in deps:
                self._dependants.setdefault(key, []).append((position, job))
            if deps:
                self._blocking[position] = len(deps)
            else:
                self._released.append((position, job))

    def ready(self) -> list[Job]:
        """The jobs released since the last call, in the list's order."""
        ready = [job for _, job in sorted(self._released, key=lambda item: item[0])]
        self._released = []
        return ready

    def finished(self, job: Job) -> None:
        for position, dependant in self._dependants.pop(job.key, []):
            self._blocking[position] -= 1
            if self._blocking[position] == 0:
                self._released.append((position, dependant))


class ProcessExecutor:
    """One job per process from a pool (one BLAS/torch thread per worker); each worker writes its own
    record, so a crash loses one cell. Dependants are submitted only after their dependencies finished."""

    def __init__(self, jobs: int):
        self.workers = max(1, jobs)

    def close(self) -> None:
        """Nothing is held between maps: each map has its own pool."""

    def map(self, jobs: Iterable[Job], store_root: Path, watch: Watch | None = None) -> Iterator[Outcome]:
        progress = Tracker(watch)
        gate = DependencyGate(jobs)
        # spawn, not fork: forking a parent that has started torch's thread pools can deadlock.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                 initializer=limit_worker_threads, initargs=(1,)) as pool:
            running: dict[Future, Job] = {}
            while True:
                for job in gate.ready():
                    running[pool.submit(run_job, job, store_root)] = job
                progress.running(min(len(running), self.workers))  # the others wait in the pool's queue
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    gate.finished(running.pop(future))
                    outcome = future.result()
                    progress.running(min(len(running), self.workers))
                    progress.finished(outcome)
                    yield outcome


def _ray_executor(jobs: int, **options: Any):
    from .ray_executor import RayExecutor  # imports Ray (an optional extra) only when asked for

    return RayExecutor(jobs, **options)


EXECUTORS: Registry[Callable[..., Any]] = Registry("executor")
EXECUTORS.register("serial", SerialExecutor)
EXECUTORS.register("process", ProcessExecutor)
EXECUTORS.register("ray", _ray_executor)


def executor_names() -> list[str]:
    return [LOCAL, *EXECUTORS.names()]


def make_executor(jobs: int, name: str | None = None, **options: Any):
    """The executor ``name`` (default :data:`LOCAL`) for ``jobs`` parallel workers; ``options`` go to
    executors that take them (the Ray executor's ``address``, ``retries``, ``task_memory_gb``)."""
    if name in (None, LOCAL):
        name = "process" if jobs > 1 else "serial"
    return EXECUTORS.get(name)(jobs, **options)
