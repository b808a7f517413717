"""The gate end to end on a real table: reproduce ob:table2, make it the baseline, move one record."""

from __future__ import annotations

import copy

import pytest

from fairbench.core.status import CellStatus
from fairbench.report.results import collect
from fairbench.specs import load_table
from fairbench.store import RecordStore


@pytest.mark.slow
def test_ob_table2_gate_catches_a_moved_deviating_cell(cli, fb_env, monkeypatch):
    monkeypatch.setenv("FAIRBENCH_BASELINE", str(fb_env / "baseline"))
    (fb_env / "baseline").mkdir()
    code, out, err = cli("reproduce", "ob:table2", "--jobs", "2")
    assert code == 0, err
    # rendered under FAIRBENCH_TABLES (the user's folder), not into the baseline
    assert (fb_env / "tables" / "ob" / "table2.csv").is_file() and not (fb_env / "baseline" / "ob").exists()
    table = load_table("ob:table2")
    results = collect(table, RecordStore())
    # the notes call FLAP(M)-f1's AA "not a real match": it is not ✓
    assert results[("AA-Fairness", "FLAP-M-f1")].status == CellStatus.DEVIATES
    code, out, _ = cli("baseline", "update", "ob:table2")
    assert code == 0 and "cell(s) changed" in out
    code, out, _ = cli("check", "ob:table2")
    assert code == 0, out
    record = results[("AA-Fairness", "FLAP-M-f2")].records[0]
    moved = copy.deepcopy(record)
    moved["metrics"]["aa_fairness"] *= 2
    store = RecordStore()
    store.save(record["key"]["group"], record["key"]["seed"], moved)
    code, out, _ = cli("check", "ob:table2")
    assert code == 1 and "FAIL ob:table2 AA-Fairness/FLAP-M-f2:" in out and "drifted from the committed baseline" in out
    store.save(record["key"]["group"], record["key"]["seed"], record)
    assert cli("check", "ob:table2")[0] == 0
