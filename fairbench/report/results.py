"""Cell results from stored records: aggregate over seeds, compare with the paper, assign a status.

Statuses: ``reproduced`` (within tolerance), ``deviates`` (outside tolerance, or a known deviation
with its reason), ``not-run`` (no record; the reason says why), ``reported-only`` (the paper's value
is shown for reference and never asserted), and ``no-reference`` (ours, where the paper prints no
number to compare with).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import FairbenchError
from ..runner.plan import cell_jobs
from ..specs import CellSpec, TableSpec
from ..store import RecordStore

MARKS = {"reproduced": "✓", "deviates": "✗", "not-run": "–", "reported-only": "†", "no-reference": ""}


@dataclass
class CellResult:
    cell: CellSpec
    status: str
    value: float | None = None
    std: float | None = None
    n: int = 0
    reason: str = ""
    runnable: bool = True
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reported(self) -> float | None:
        return _number(self.cell.reported)

    @property
    def reported_std(self) -> float | None:
        return _number(self.cell.reported_std)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def collect(table: TableSpec, store: RecordStore, scale: str = "paper") -> dict[tuple[str, str], CellResult]:
    return {key: collect_cell(table, cell, store, scale) for key, cell in table.cells.items()}


def collect_cell(table: TableSpec, cell: CellSpec, store: RecordStore, scale: str = "paper") -> CellResult:
    if cell.expect == "reported-only" and not cell.run:
        return CellResult(cell, "reported-only", reason=cell.reason, runnable=False)
    try:
        job = cell_jobs(table, cell, scale, seeds=1)[0]
    except FairbenchError as exc:
        return CellResult(cell, "not-run", reason=_not_implemented(str(exc)), runnable=False)
    seeds = store.seeds(job.group)
    if not seeds:
        failure = store.failure(job.group)
        reason = failure.message if failure else f"not run yet: fairbench reproduce {table.ref}"
        status = "reported-only" if cell.expect == "reported-only" else "not-run"
        # cells whose data is absent here cannot run here: check skips them, like unimplemented methods
        runnable = not (failure and failure.blocks_here)
        return CellResult(cell, status, reason=reason, runnable=runnable)
    records = [store.load(job.group, seed) for seed in seeds]
    values = [r["metrics"].get(cell.metric) for r in records]
    if any(v is None for v in values):
        reason = f"the runs record no metric '{cell.metric}'"
        if cell.expect == "reported-only":
            return CellResult(cell, "reported-only", reason=f"{cell.reason}; {reason}", records=records)
        raise FairbenchError(f"{table.ref} cell {cell.row}/{cell.column}: {reason}")
    array = np.asarray(values, dtype=float) * cell.factor
    value = float(np.mean(array))
    std = float(np.std(array, ddof=1)) if len(array) > 1 else None
    if std is not None and std < 1e-12 * max(1.0, abs(value)):
        std = 0.0  # identical runs up to floating-point noise
    result = CellResult(cell, "", value, std, len(array), records=records)
    result.status, result.reason = _status(cell, value, std, result.reported, result.reported_std)
    return result


def _not_implemented(message: str) -> str:
    return message.replace("unknown method", "method not implemented:").split("; known:")[0]


def _status(cell: CellSpec, value: float, std: float | None, reported: float | None, reported_std: float | None) -> tuple[str, str]:
    if cell.expect == "reported-only":
        return "reported-only", cell.reason
    if reported is None:
        return "no-reference", "the paper prints no value for this cell"
    if math.isnan(value):
        return "deviates", "our value is undefined (NaN)"
    if cell.tolerance.allows(value, reported, std, reported_std):
        if cell.expect == "deviates":
            return "reproduced", f"within tolerance although expected to deviate ({cell.reason})"
        return "reproduced", ""
    if cell.expect == "deviates":
        return "deviates", cell.reason
    return "deviates", f"|ours − paper| = {abs(value - reported):.4g} > {cell.tolerance.describe()}"
