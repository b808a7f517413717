"""The executable claims of a table, evaluated on the paper's own printed numbers: a claim the paper's numbers
satisfy must hold there, so a relation that is mistyped, or reads another cell than the statement means, fails
here rather than silently judging our runs. Only tables whose claims read printed cells are listed."""

from __future__ import annotations

import pytest

from fairbench.report.claims import check_claims
from fairbench.report.results import CellResult
from fairbench.specs import load_table


def _paper_results(table):
    """Every cell with a printed number as a one-seed result of that number; the others not run."""
    results = {}
    for key, cell in table.cells.items():
        paper = CellResult(cell, "reported-only").reported
        if paper is None:
            results[key] = CellResult(cell, "not-run")
        else:
            results[key] = CellResult(cell, "no-reference", paper, None, 1, records=[{"metrics": {cell.metric: paper}}])
    return results


@pytest.mark.parametrize("ref,holding", [
    ("cobum:table2", {"abstract_dp_best_cub", "abstract_dp_best_cifar", "abstract_dp_best_celeba",
                      "privacy_with_fairness", "dp_improves_eo_lags"}),
    ("cfdebias:table1", {"table1_text_ours_vs_scrub"}),
    ("cfdebias:table3", {"table3_text_only_lf"}),
])
def test_claims_hold_on_the_papers_own_numbers(ref, holding):
    table = load_table(ref)
    claims = {claim.id: claim for claim in check_claims(table.path, _paper_results(table))}
    assert holding <= set(claims)
    assert {name: claims[name].status for name in holding} == {name: "holds" for name in holding}
