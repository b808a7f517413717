"""Stand-in specs (``stand_in: true``, e.g. the mini-scale cfdebias image tables): every cell is a stand-in,
never compared with the paper, at the default scale too."""

from __future__ import annotations

import pytest

from fairbench.core.status import CellStatus
from fairbench.report.render import render
from fairbench.report.results import CellResult, _status
from fairbench.specs import load_table

MINI = ["cfdebias:table3-mini", "cfdebias:fig5-mini", "cfdebias:fig6-mini"]


@pytest.mark.parametrize("ref", MINI)
def test_mini_image_specs_are_stand_ins_without_paper_values(ref):
    table = load_table(ref)
    assert table.stand_in and all(cell.reported is None for cell in table.cells.values())
    cell = next(iter(table.cells.values()))
    status, reason = _status(CellResult(cell, CellStatus.NOT_RUN, 0.5, 0.01, 3), "paper", table.stand_in)
    assert status is CellStatus.STAND_IN and "never compared" in reason
    assert "~ stand-in" in render(table, {key: CellResult(c, CellStatus.STAND_IN, 0.5, 0.01, 3)
                                          for key, c in table.cells.items()}, "md")


def test_a_paper_spec_without_a_value_is_not_a_stand_in():
    table = load_table("cfdebias:fig6")
    cell = next(iter(table.cells.values()))
    assert not table.stand_in
    assert _status(CellResult(cell, CellStatus.NOT_RUN, 0.5, 0.01, 3), "paper")[0] is CellStatus.NO_REFERENCE
