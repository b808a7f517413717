"""Run every missing cell of a table (cached cells are reused), through a pluggable executor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..specs import TableSpec
from ..store import RecordStore
from .executor import make_executor
from .jobs import Job, Outcome
from .plan import Plan, plan_table


@dataclass
class RunSummary:
    plan: Plan
    reused: list[Job] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def pending_jobs(jobs: list[Job], store: RecordStore, force: bool) -> tuple[list[Job], list[Job]]:
    """(to run, reused): a job with a done record is reused unless ``force``."""
    if force:
        return list(jobs), []
    todo = [j for j in jobs if not store.has(j.group, j.seed)]
    reused = [j for j in jobs if store.has(j.group, j.seed)]
    return todo, reused


def run_jobs(
    jobs: list[Job], store: RecordStore, n_jobs: int = 1, on_done: Callable[[Outcome], None] | None = None
) -> list[Outcome]:
    outcomes = []
    for outcome in make_executor(n_jobs).map(jobs, store.root):
        outcomes.append(outcome)
        if on_done:
            on_done(outcome)
    return outcomes


def reproduce_table(
    table: TableSpec,
    store: RecordStore,
    *,
    scale: str = "paper",
    seeds: int | None = None,
    n_jobs: int = 1,
    force: bool = False,
    datasets: set[str] | None = None,
    methods: set[str] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> RunSummary:
    plan = plan_table(table, scale, seeds, datasets, methods)
    todo, reused = pending_jobs(plan.jobs, store, force)
    summary = RunSummary(plan=plan, reused=reused)
    if on_start:
        on_start(len(todo))
    summary.outcomes = run_jobs(todo, store, n_jobs, on_done)
    return summary
