"""Run the unlearning matrix: the selected cells of every matrix table as one plan, so that the original
models and reference retrains the tables share (every protocol trains on the same original model) run once,
and one pool of workers runs them all (:func:`fairbench.runner.reproduce.run_plan`)."""

from __future__ import annotations

import dataclasses

from ..matrix import Grid, default_cells
from ..specs import TableSpec
from .jobs import Job
from .plan import Plan, plan_table, with_dependencies


def selected_tables(tables: list[TableSpec], grid: Grid, methods: set[str] | None,
                    datasets: set[str] | None) -> list[TableSpec]:
    """Each table narrowed to the cells ``fairbench matrix`` runs (:func:`fairbench.matrix.default_cells`)."""
    return [dataclasses.replace(table, cells=default_cells(table, grid, methods, datasets)) for table in tables]


def plan_matrix(tables: list[TableSpec], seeds: int | None = None) -> Plan:
    """One plan of every cell of ``tables`` (already narrowed) and of the runs they need, each job once."""
    combined = Plan()
    cell_jobs: dict[tuple[str, int], Job] = {}
    for table in tables:
        plan = plan_table(table, "paper", seeds)
        combined.selected += plan.selected
        combined.skipped.update({(f"{table.ref} {row}", column): failure
                                 for (row, column), failure in plan.skipped.items()})
        for job in plan.jobs:
            if job.key in plan.requested:
                cell_jobs.setdefault(job.key, job)
    combined.requested = set(cell_jobs)
    combined.jobs = with_dependencies(list(cell_jobs.values()))
    return combined
