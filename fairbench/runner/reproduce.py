"""Run every missing cell of a table (cached cells are reused), through a pluggable executor."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from ..core.status import RunStatus
from ..specs import TableSpec
from ..store import RecordStore
from .artifacts import outputs_problem
from .executor import Watch, make_executor
from .jobs import Job, Outcome
from .plan import Plan, plan_table, with_dependencies

_log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    plan: Plan
    reused: list[Job] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, *statuses: RunStatus) -> int:
        return sum(1 for o in self.outcomes if o.status in statuses)


def pending_jobs(jobs: list[Job], store: RecordStore, force: bool) -> tuple[list[Job], list[Job]]:
    """(to run, reused) of the requested ``jobs``: a job with a done record is reused unless ``force``;
    to run are the others and the jobs they need whose outputs are not intact (no record yet, or a model
    missing, unlisted or failing its sha256, e.g. a ``model.pkl`` of an older fairbench), dependencies first."""
    todo = [j for j in jobs if force or not store.has(j.group, j.seed)]
    reused = [j for j in jobs if not force and store.has(j.group, j.seed)]
    for job in reused:  # a record of an older fairbench (same key, no request index) is found by the report too
        store.index_request(job.group, job.request)
    keys = {j.key for j in todo}
    pending = []
    for job in with_dependencies(todo):
        problem = None if job.key in keys else outputs_problem(store, job.group, job.seed)
        if problem is not None and store.has(job.group, job.seed):  # say why a stored run is run again
            _log.warning("%s; running %s again", problem, job.label)
        if job.key in keys or problem is not None:
            pending.append(job)
    return pending, reused


def run_jobs(
    jobs: list[Job], store: RecordStore, n_jobs: int = 1, on_done: Callable[[Outcome], None] | None = None,
    executor: Any = None, on_tally: Watch | None = None,
) -> list[Outcome]:
    """Run ``jobs`` (dependencies first) with ``executor`` (default: :func:`make_executor` for ``n_jobs``);
    ``on_done`` is told each outcome, ``on_tally`` the executor's progress each time it changes."""
    outcomes: list[Outcome] = []
    if jobs:
        store.check_writable()  # a read-only or full results folder: one line before anything runs
    executor = executor if executor is not None else make_executor(n_jobs)
    for outcome in executor.map(jobs, store.root, watch=on_tally):
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
    plan: Plan | None = None,
    executor: Any = None,
    on_tally: Watch | None = None,
) -> RunSummary:
    """Run the missing jobs of ``table`` (``plan``: the table's plan when the caller already made it;
    ``executor``: one from :func:`make_executor`, default the local one for ``n_jobs``)."""
    return run_plan(plan or plan_table(table, scale, seeds, datasets, methods), store, n_jobs, force, on_start,
                    on_done, executor, on_tally)


def run_plan(plan: Plan, store: RecordStore, n_jobs: int = 1, force: bool = False,
             on_start: Callable[[int], None] | None = None,
             on_done: Callable[[Outcome], None] | None = None,
             executor: Any = None, on_tally: Watch | None = None) -> RunSummary:
    """Run the plan's requested jobs that have no record (all of them with ``force``) and the jobs they need."""
    requested = [job for job in plan.jobs if job.key in plan.requested]
    todo, reused = pending_jobs(requested, store, force)
    summary = RunSummary(plan=plan, reused=reused)
    if on_start:
        on_start(len(todo))
    summary.outcomes = run_jobs(todo, store, n_jobs, on_done, executor, on_tally)
    return summary


def run_with_dependencies(job: Job, store: RecordStore, force: bool = False, n_jobs: int = 1,
                          on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run ``job`` and the jobs it needs that have no record (``force`` reruns ``job`` itself only);
    the outcomes in the order they finished, ``job``'s last (none when its record was reused)."""
    todo, _ = pending_jobs([job], store, force)
    return run_jobs(todo, store, n_jobs, on_done)
