"""Our committed results as the second reference of every cell: the CSV under ``tables/``.

``tables/<paper>/<table>.csv`` (written by :func:`fairbench.report.render.render_csv`, columns
``paper,table,row,column,value,std,n,reported,reported_std,status``) is the baseline that
``fairbench check`` compares fresh records with, for every cell that has a value, whether or not it
matches the paper. A fresh mean ``x`` over ``n`` seeds (std ``s``) stays on the baseline mean ``b``
over ``m`` seeds (std ``t``) when

    |x − b| ≤ max(rel · |b|, abs)                          when n = m (the same seeds 0 … n−1)
    |x − b| ≤ max(k · sqrt(s²/n + t²/m), rel · |b|, abs)   when n ≠ m (e.g. ``--seeds``)

with k = 2, rel = 1e-6, abs = 1e-12. Runs are deterministic given their seed, so a rerun of the same
seeds differs only by floating-point noise: the floor is the honest tolerance, and one seed moved is a
regression even where the seeds' spread is wide. Only means over different seed sets are compared
within their standard error. Wall-clock metrics (``*_seconds``, ``time_s``, ``*_time_s``) depend on the
machine and are never compared.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import FairbenchError
from ..core.status import CellStatus
from ..specs import TableSpec, standard_error_of_difference

BASELINE_K = 2.0  # standard errors of the difference of the two means
BASELINE_REL = 1e-6  # floor: relative to the baseline value (float noise of a deterministic rerun)
BASELINE_ABS = 1e-12  # floor for values at (or within float noise of) zero
CSV_COLUMNS = ["paper", "table", "row", "column", "value", "std", "n", "reported", "reported_std", "status"]


def is_wall_clock(metric: str) -> bool:
    """Run times measured on this machine: machine-dependent, excluded from the baseline comparison."""
    return metric.endswith("_seconds") or metric == "time_s" or metric.endswith("_time_s")


@dataclass(frozen=True)
class BaselineCell:
    value: float | None
    std: float | None
    n: int
    status: str


@dataclass
class Baseline:
    path: Path
    cells: dict[tuple[str, str], BaselineCell] = field(default_factory=dict)

    @property
    def scale(self) -> str | None:
        """``paper`` when some cell was compared with the paper, ``mini`` when cells are stand-ins, None
        when no cell has a value. (The CSV has no scale column; only these two scales exist.)"""
        statuses = {cell.status for cell in self.cells.values() if cell.value is not None}
        if CellStatus.STAND_IN.value in statuses:
            return "mini"
        compared = {CellStatus.REPRODUCED.value, CellStatus.DEVIATES.value, CellStatus.NO_REFERENCE.value}
        return "paper" if statuses & compared else None


def baseline_path(root: Path, table: TableSpec) -> Path:
    return root / table.paper / f"{table.table}.csv"


def _float(text: str, path: Path, line: int) -> float | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise FairbenchError(f"{path}:{line}: '{text}' is not a number") from None


def parse_baseline(text: str, path: Path) -> Baseline:
    rows = list(csv.DictReader(text.splitlines()))
    baseline = Baseline(path)
    if rows and set(CSV_COLUMNS) - set(rows[0]):
        missing = ", ".join(sorted(set(CSV_COLUMNS) - set(rows[0])))
        raise FairbenchError(f"{path}: not a fairbench table CSV (missing column(s) {missing})")
    for line, row in enumerate(rows, start=2):
        n_text = row["n"] or "0"
        if not n_text.isdigit():
            raise FairbenchError(f"{path}:{line}: n must be a count, got '{n_text}'")
        baseline.cells[(row["row"], row["column"])] = BaselineCell(
            _float(row["value"], path, line), _float(row["std"], path, line), int(n_text), row["status"])
    return baseline


def read_baseline(root: Path, table: TableSpec) -> Baseline | None:
    """The committed CSV of ``table`` under ``root``, None when there is none."""
    path = baseline_path(root, table)
    if not path.is_file():
        return None
    return parse_baseline(path.read_text(), path)


def drift_bound(fresh_std: float | None, fresh_n: int, base: BaselineCell) -> float:
    """How far a fresh mean may lie from the baseline's (module docstring)."""
    floor = max(BASELINE_REL * abs(base.value or 0.0), BASELINE_ABS)
    if fresh_n == base.n:
        return floor
    return max(BASELINE_K * standard_error_of_difference(fresh_std, fresh_n, base.std, base.n), floor)


def changed_cells(old: Baseline | None, new: Baseline) -> list[str]:
    """One line per cell whose value, std, n or status differs between two baselines (``baseline update``)."""
    lines = []
    for key, cell in new.cells.items():
        before = old.cells.get(key) if old else None
        if before == cell:
            continue
        was = "absent" if before is None else _describe(before)
        lines.append(f"{key[0]}/{key[1]}: {was} → {_describe(cell)}")
    for key in (old.cells if old else {}):
        if key not in new.cells:
            lines.append(f"{key[0]}/{key[1]}: removed")
    return lines


def _describe(cell: BaselineCell) -> str:
    if cell.value is None:
        return cell.status
    spread = f" ± {cell.std:.6g}" if cell.std is not None else ""
    return f"{cell.value:.6g}{spread} (n={cell.n}, {cell.status})"
