"""Compare stored results with the paper under each cell's tolerance (what users put in CI)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.status import CellStatus
from ..specs import TableSpec
from .results import CellResult


@dataclass
class CheckReport:
    table: str
    failing: list[CellResult] = field(default_factory=list)
    passing: list[CellResult] = field(default_factory=list)
    skipped: list[CellResult] = field(default_factory=list)  # not implemented here, or known deviations
    stale: list[CellResult] = field(default_factory=list)  # shown from records of older code (checked all the same)

    @property
    def ok(self) -> bool:
        return not self.failing


def check_table(table: TableSpec, results: dict[tuple[str, str], CellResult]) -> CheckReport:
    """A cell expected to reproduce fails when it has no record or lies outside its tolerance.

    Cells of methods that are not implemented, known deviations, reported-only cells and cells
    without a paper value are skipped (listed, never failing).
    """
    report = CheckReport(table.ref)
    for result in results.values():
        if result.stale:
            report.stale.append(result)
        expected = result.cell.expect == "reproduce" and result.runnable and result.cell.reported is not None
        if not expected:
            report.skipped.append(result)
        elif result.status == CellStatus.REPRODUCED:
            report.passing.append(result)
        else:
            report.failing.append(result)
    return report
