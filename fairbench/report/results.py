"""Cell results from stored records: aggregate over seeds, compare with the paper, assign a status.

A cell's records are found by the hash of its request (:func:`fairbench.specs.cell_config`, hashed
by :func:`fairbench.core.hashing.request_hash`) through the store's ``by-request`` index, and
grouped by the configuration and code versions that made them (the store's run groups). Records
made by the registered versions of their task, method and components (:mod:`fairbench.catalog`)
are used when there are any; otherwise the newest older records are shown, marked ``stale`` with
the versions that differ. Nothing here imports the runner, the methods or torch.

Statuses (:class:`fairbench.core.status.CellStatus`): ``reproduced`` (within tolerance),
``deviates`` (outside tolerance, or a known deviation with its reason), ``not-run`` (no record;
the reason says why), ``reported-only`` (the paper's value is shown for reference and never
asserted), ``no-reference`` (ours, where the paper prints no number to compare with) and
``stand-in`` (ours at a stand-in scale such as ``mini``: never compared with the paper).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..catalog import Catalog, catalog
from ..core.errors import FairbenchError
from ..core.hashing import request_hash
from ..core.status import CellStatus, RunFailure
from ..specs import CellSpec, TableSpec, cell_config, standard_error_of_difference
from ..store import RecordStore

MARKS = {CellStatus.REPRODUCED: "✓", CellStatus.DEVIATES: "✗", CellStatus.NOT_RUN: "—",
         CellStatus.REPORTED_ONLY: "†", CellStatus.NO_REFERENCE: "", CellStatus.STAND_IN: "~"}
STALE_MARK = "stale"  # after the status mark of a cell shown from records of older code


@dataclass
class CellResult:
    cell: CellSpec
    status: CellStatus
    value: float | None = None
    std: float | None = None
    n: int = 0
    reason: str = ""
    runnable: bool = True
    records: list[dict[str, Any]] = field(default_factory=list)
    stale: str = ""  # why the records are not current (older code versions and how to rerun); "" when current

    def __post_init__(self) -> None:
        self.status = CellStatus(self.status)

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


@dataclass
class Found:
    """What the store holds for one request: the records of one run group, and why they are stale (if so)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    stale: str = ""
    failure: RunFailure | None = None  # the newest failure note, when no group has a record


def find_records(store: RecordStore, request: dict[str, Any], known: Catalog) -> Found:
    """The records of a request's newest current run group, else of its newest stale one, else its failure."""
    groups = store.groups_for_request(request_hash(request))
    made = [[store.load(group, seed) for seed in store.seeds(group)] for group in groups]
    made = sorted((records for records in made if records), key=_newest)
    current = [records for records in made if not known.staleness(records[0]["code"])]
    if current:
        return Found(current[-1])
    if made:
        return Found(made[-1], known.staleness(made[-1][0]["code"]))
    failures = [failure for failure in map(store.failure, reversed(groups)) if failure is not None]
    return Found(failure=failures[0] if failures else None)


def _newest(records: list[dict[str, Any]]) -> str:
    """When a group's newest run started (ISO timestamps sort as text); groups hold one code version each."""
    return max(str(record.get("started", "")) for record in records)


def collect(table: TableSpec, store: RecordStore, scale: str = "paper",
            known: Catalog | None = None) -> dict[tuple[str, str], CellResult]:
    known = known or catalog()
    return {key: collect_cell(table, cell, store, scale, known) for key, cell in table.cells.items()}


def collect_cell(table: TableSpec, cell: CellSpec, store: RecordStore, scale: str = "paper",
                 known: Catalog | None = None) -> CellResult:
    known = known or catalog()
    if cell.expect == "reported-only" and not cell.run:
        return CellResult(cell, CellStatus.REPORTED_ONLY, reason=cell.reason, runnable=False)
    request = cell_config(table, cell, scale)
    missing = known.missing(request)
    if missing:
        return CellResult(cell, CellStatus.NOT_RUN, reason=missing, runnable=False)
    found = find_records(store, request, known)
    if not found.records:
        failure = found.failure
        reason = failure.message if failure else f"not run yet: fairbench reproduce {table.ref}"
        status = CellStatus.REPORTED_ONLY if cell.expect == "reported-only" else CellStatus.NOT_RUN
        # cells whose data is absent here cannot run here: check skips them, like unimplemented methods
        runnable = not (failure and failure.blocks_here)
        return CellResult(cell, status, reason=reason, runnable=runnable)
    records = found.records
    rerun = f"fairbench reproduce {table.ref}" + ("" if scale == "paper" else f" --scale {scale}")
    stale = f"{found.stale}: rerun with {rerun}" if found.stale else ""
    values = [r["metrics"].get(cell.metric) for r in records]
    if any(v is None for v in values):
        reason = f"the runs record no metric '{cell.metric}'"
        if cell.expect == "reported-only":
            return CellResult(cell, CellStatus.REPORTED_ONLY, reason=f"{cell.reason}; {reason}", records=records,
                              stale=stale)
        raise FairbenchError(f"{table.ref} cell {cell.row}/{cell.column}: {reason}")
    array = np.asarray(values, dtype=float) * cell.factor
    value = float(np.mean(array))
    std = float(np.std(array, ddof=1)) if len(array) > 1 else None
    if std is not None and std < 1e-12 * max(1.0, abs(value)):
        std = 0.0  # identical runs up to floating-point noise
    result = CellResult(cell, CellStatus.NOT_RUN, value, std, len(array), records=records, stale=stale)
    result.status, result.reason = _status(result, scale, table.stand_in)
    return result


def _status(result: CellResult, scale: str, stand_in: bool = False) -> tuple[CellStatus, str]:
    cell, value, reported = result.cell, result.value, result.reported
    if cell.expect == "reported-only":
        return CellStatus.REPORTED_ONLY, cell.reason
    if scale != "paper":
        return CellStatus.STAND_IN, f"scale {scale}: a stand-in run, never compared with the paper"
    if stand_in:
        return CellStatus.STAND_IN, "a stand-in table (see its variant), never compared with the paper"
    if reported is None:
        return CellStatus.NO_REFERENCE, "the paper prints no value for this cell"
    if math.isnan(value):
        return CellStatus.DEVIATES, "our value is undefined (NaN)"
    error = standard_error_of_difference(result.std, result.n, result.reported_std, cell.reported_n)
    if cell.tolerance.allows(value, reported, error):
        if cell.expect == "deviates":
            return CellStatus.REPRODUCED, f"within tolerance although expected to deviate ({cell.reason})"
        return CellStatus.REPRODUCED, ""
    if cell.expect == "deviates":
        return CellStatus.DEVIATES, cell.reason
    return CellStatus.DEVIATES, (f"|ours − paper| = {abs(value - reported):.4g} > "
                                 f"{cell.tolerance.bound(reported, error):.4g} ({cell.tolerance.describe()}, "
                                 f"SE {error:.2g})")
