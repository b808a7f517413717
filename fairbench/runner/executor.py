"""Pluggable executors: they only map ``run_job`` over jobs.

A distributed engine (Ray, a SLURM launcher) is one more class with the same ``map`` that runs
``run_job(job, store_root)`` remotely against a shared store; methods and tables stay untouched.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Iterable, Iterator

from ..core.registry import Registry
from .jobs import Job, Outcome, run_job


class SerialExecutor:
    def __init__(self, jobs: int = 1):
        del jobs

    def map(self, jobs: Iterable[Job], store_root: Path) -> Iterator[Outcome]:
        for job in jobs:
            yield run_job(job, store_root)


class ProcessExecutor:
    """One job per process from a pool; each worker writes its own record, so a crash loses one cell."""

    def __init__(self, jobs: int):
        self.workers = max(1, jobs)

    def map(self, jobs: Iterable[Job], store_root: Path) -> Iterator[Outcome]:
        # spawn, not fork: forking a parent that has started torch's thread pools can deadlock.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=context) as pool:
            futures = [pool.submit(run_job, job, store_root) for job in jobs]
            for future in as_completed(futures):
                yield future.result()


EXECUTORS: Registry[type] = Registry("executor")
EXECUTORS.register("serial", SerialExecutor)
EXECUTORS.register("process", ProcessExecutor)


def make_executor(jobs: int, name: str | None = None):
    name = name or ("process" if jobs > 1 else "serial")
    return EXECUTORS.get(name)(jobs)
