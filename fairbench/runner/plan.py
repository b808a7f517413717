"""Turn a table spec into jobs: every runnable cell × seed plus the jobs they need, de-duplicated (cells
share runs) and ordered so that a job comes after every job it needs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import FairbenchError
from ..core.hashing import canonical_json
from ..core.status import RunFailure, RunStatus
from ..specs import SCALES, CellSpec, TableSpec, cell_config
from .jobs import Job, make_job
from .tasks.config import NotImplementedHere

__all__ = ["SCALES", "Plan", "cell_jobs", "check_bounds", "check_selection", "plan_table", "with_dependencies"]

# Sizes above which `reproduce` asks for --yes: a typo such as --seeds 1000000 would otherwise plan
# millions of jobs (and hold them in memory) before anything runs.
MAX_SEEDS = 1000  # seeds per cell
MAX_RUNS = 20_000  # cell runs (cells x seeds) of one command
WORKERS_PER_CORE = 4  # --jobs up to this many worker processes per CPU core


def max_workers() -> int:
    return WORKERS_PER_CORE * (os.cpu_count() or 1)


def selected_cells(table: TableSpec, datasets: set[str] | None = None, methods: set[str] | None = None) -> list[CellSpec]:
    """The cells of ``table`` that run, restricted to ``datasets`` / ``methods`` when given."""
    return [cell for cell in table.cells.values()
            if not (cell.expect == "reported-only" and not cell.run)
            and not (datasets and dataset_name(cell.run) not in datasets)
            and not (methods and cell.run.get("method") not in methods)]


def check_bounds(tables: list[TableSpec], seeds: int | None, jobs: int, datasets: set[str] | None = None,
                 methods: set[str] | None = None) -> int:
    """The number of cell runs the tables ask for, counted without planning them; FairbenchError (one
    line) when ``seeds``, ``jobs`` or that number exceeds its limit (the caller lets ``--yes`` skip this)."""
    runs = sum((seeds or cell.seeds) for table in tables for cell in selected_cells(table, datasets, methods))
    if seeds is not None and seeds > MAX_SEEDS:
        raise FairbenchError(f"--seeds {seeds} would plan {runs} cell runs, above the limit of {MAX_SEEDS} seeds per "
                             f"cell; pass --yes to run it anyway")
    if jobs > max_workers():
        raise FairbenchError(f"--jobs {jobs} is above the limit of {max_workers()} ({WORKERS_PER_CORE} per CPU core); "
                             f"pass --yes to start that many worker processes anyway")
    if runs > MAX_RUNS:
        raise FairbenchError(f"this would plan {runs} cell runs, above the limit of {MAX_RUNS}; select fewer "
                             f"(--datasets/--methods/--seeds) or pass --yes to run them anyway")
    return runs


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)  # dependencies first
    skipped: dict[tuple[str, str], RunFailure] = field(default_factory=dict)  # cell -> why it cannot run here
    selected: int = 0  # cells that match the selection (every cell with a run when nothing is selected)
    requested: set[tuple[str, int]] = field(default_factory=set)  # keys of the cells' own jobs (not dependencies)


def with_dependencies(jobs: list[Job]) -> list[Job]:
    """``jobs`` and every job they need, each once, every job after the jobs it needs."""
    ordered: list[Job] = []
    seen: set[tuple[str, int]] = set()

    def visit(job: Job) -> None:
        if job.key in seen:
            return
        seen.add(job.key)
        for _, dependency in job.needs:
            visit(dependency)
        ordered.append(job)

    for job in jobs:
        visit(job)
    return ordered


def cell_jobs(table: TableSpec, cell: CellSpec, scale: str, seeds: int | None = None,
              shared: dict[str, Job] | None = None) -> list[Job]:
    """Jobs of one cell; raises NotImplementedHere if a method or dataset variant it needs is not registered, and
    FairbenchError if its configuration is wrong (``shared``: see :func:`make_job`)."""
    config = cell_config(table, cell, scale)
    return [make_job({**config, "seed": seed}, shared) for seed in range(seeds or cell.seeds)]


def _cell_run_key(table: TableSpec, cell: CellSpec, scale: str, seeds: int | None) -> str:
    """What makes a cell's jobs: its run configuration and seed count (cells that read other metrics of
    the same runs, e.g. a table's RA / FA / TA columns, share them)."""
    return f"{canonical_json(cell_config(table, cell, scale))}#{seeds or cell.seeds}"


def dataset_name(run: dict[str, Any]) -> str | None:
    """The dataset a cell runs on, without its variant (``adult@cfdebias`` -> ``adult``)."""
    dataset = run.get("dataset")
    return None if dataset is None else str(dataset).split("@", 1)[0]


def table_names(table: TableSpec) -> dict[str, set[str]]:
    """The datasets (without variant) and methods that a table's cells run."""
    runs = [cell.run for cell in table.cells.values() if cell.run]
    return {"dataset": {dataset_name(run) for run in runs} - {None},
            "method": {str(run["method"]) for run in runs if run.get("method")}}


def check_selection(tables: list[TableSpec], datasets: set[str] | None, methods: set[str] | None) -> None:
    """A selected dataset or method that none of ``tables`` runs is a user error."""
    for kind, wanted in (("dataset", datasets), ("method", methods)):
        present = set().union(*(table_names(table)[kind] for table in tables))
        unknown = sorted((wanted or set()) - present)
        if unknown:
            where, verb = (f"{tables[0].ref} runs", "it runs") if len(tables) == 1 else ("these tables run", "they run")
            raise FairbenchError(f"{where} no {kind} {', '.join(unknown)}; {verb}: {', '.join(sorted(present))}")


def plan_table(table: TableSpec, scale: str = "paper", seeds: int | None = None,
               datasets: set[str] | None = None, methods: set[str] | None = None) -> Plan:
    """Jobs of every runnable cell (or of the cells on ``datasets`` and by ``methods`` when given) and of
    the runs they need. A cell whose configuration is wrong raises FairbenchError naming the cell, so a
    table is refused before anything runs; a cell that needs an unregistered method or dataset variant is skipped."""
    plan = Plan()
    cells: list[Job] = []
    shared: dict[str, Job] = {}  # the dependencies made so far, checked once each
    made: dict[str, list[Job] | NotImplementedHere] = {}  # each distinct cell run's jobs, made and checked once
    chosen = {id(cell) for cell in selected_cells(table, datasets, methods)}
    for key, cell in table.cells.items():
        if id(cell) not in chosen:
            continue
        plan.selected += 1
        run_key = _cell_run_key(table, cell, scale, seeds)
        if run_key not in made:
            try:
                made[run_key] = cell_jobs(table, cell, scale, seeds, shared)
            except NotImplementedHere as exc:
                made[run_key] = exc
            except FairbenchError as exc:
                raise FairbenchError(f"{table.ref} cell {key[0]}/{key[1]}: {exc}") from None
        jobs = made[run_key]
        if isinstance(jobs, NotImplementedHere):
            plan.skipped[key] = RunFailure(RunStatus.NOT_IMPLEMENTED, str(jobs), missing_methods=jobs.names)
            continue
        cells.extend(jobs)
        plan.requested.update(job.key for job in jobs)
    plan.jobs = with_dependencies(cells)
    return plan
