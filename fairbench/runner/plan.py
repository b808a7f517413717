"""Turn a table spec into jobs: every runnable cell × seed, de-duplicated (cells share runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import FairbenchError
from ..specs import CellSpec, TableSpec, _merge
from .jobs import Job, make_job

SCALES = ("paper", "mini")


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)  # cell -> why it cannot run here


def cell_config(table: TableSpec, cell: CellSpec, scale: str) -> dict[str, Any]:
    if scale not in SCALES:
        raise FairbenchError(f"unknown scale '{scale}'; known: {', '.join(SCALES)}")
    return _merge(cell.run, (table.scales.get(scale) or {}).get("run"))


def cell_jobs(table: TableSpec, cell: CellSpec, scale: str, seeds: int | None = None) -> list[Job]:
    """Jobs of one cell; raises FairbenchError if its method or task is not implemented."""
    config = cell_config(table, cell, scale)
    return [make_job({**config, "seed": seed}) for seed in range(seeds or cell.seeds)]


def plan_table(table: TableSpec, scale: str = "paper", seeds: int | None = None) -> Plan:
    plan = Plan()
    seen: set[tuple[str, int]] = set()
    for key, cell in table.cells.items():
        if cell.expect == "reported-only" and not cell.run:
            continue
        try:
            jobs = cell_jobs(table, cell, scale, seeds)
        except FairbenchError as exc:
            plan.skipped[key] = str(exc)
            continue
        for job in jobs:
            if (job.group, job.seed) not in seen:
                seen.add((job.group, job.seed))
                plan.jobs.append(job)
    return plan
