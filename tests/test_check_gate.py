"""The regression gate (``fairbench check``) on small synthetic specs and records written without the runner.

Each way the gate used to stay green now exits 1 with a message naming the cell or claim: a declared
deviation that reproduces, a declared-failing claim that holds, a drift from the committed baseline in
an all-deviates table, a claim with scopes that were not run, a claim that cannot be evaluated, and no
records at all. Records are stored the way the runner stores them (request, config, code versions,
metrics), with the registered versions of real methods so that they are current.
"""

from __future__ import annotations

import copy
from xml.etree import ElementTree

import pytest

from fairbench.catalog import catalog
from fairbench.core.errors import FairbenchError
from fairbench.core.hashing import config_hash, request_of
from fairbench.core.status import CellStatus, RunFailure, RunStatus
from fairbench.report.render import render
from fairbench.report.results import collect
from fairbench.specs import Tolerance, cell_config, load_spec, load_table, standard_error_of_difference
from fairbench.store import RecordStore

HEAD = """\
paper: syn
table: {table}
title: synthetic gate fixture
source: made up for the check tests
defaults:
  run: {{task: cf_discrete, dataset: compas@flap}}
  seeds: 1
rows:
  - {{id: acc, label: ACC, metric: expected_accuracy}}
columns:
  - {{id: A, label: A, run: {{method: ml}}}}
  - {{id: B, label: B, run: {{method: ftu}}}}
  - {{id: C, label: C, run: {{method: fl}}}}
"""

SPECS = {
    # A reproduces, B is a declared deviation, C has no paper value
    "mixed": """\
cells:
  acc:
    A: {reported: '0.50', tolerance: {abs: 0.01}}
    B: {reported: '0.70', tolerance: {abs: 0.01}, expect: 'deviates: ours is lower'}
claims:
  - {id: c_above_b, statement: C is above B, scope: table, relation: "v('acc', 'C') > v('acc', 'B')",
     expect: 'fails: C is lower here'}
  - {id: all_positive, statement: every method scores above zero, relation: "v('acc') > 0"}
  - {id: c_positive, statement: C scores above zero, columns: [C], relation: "v('acc') > 0"}
""",
    # every cell deviates from (made-up) paper values: only the baseline can catch a change
    "alldev": """\
defaults_expect: true
cells:
  acc:
    A: {reported: '9.99', expect: 'deviates: made-up paper value'}
    B: {reported: '9.99', expect: 'deviates: made-up paper value'}
    C: {reported: '9.99', expect: 'deviates: made-up paper value'}
""".replace("defaults_expect: true\n", ""),
}


@pytest.fixture()
def gate(tmp_path, monkeypatch):
    """Synthetic specs under a benchmarks folder, an empty store and an empty baseline folder."""
    root = tmp_path / "benchmarks" / "syn"
    root.mkdir(parents=True)
    for name, body in SPECS.items():
        (root / f"{name}.yaml").write_text(HEAD.format(table=name) + body)
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(tmp_path / "benchmarks"))
    monkeypatch.setenv("FAIRBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("FAIRBENCH_TABLES", str(tmp_path / "rendered"))
    monkeypatch.setenv("FAIRBENCH_BASELINE", str(tmp_path / "tables"))
    (tmp_path / "tables").mkdir()
    return tmp_path


def save_runs(store: RecordStore, request: dict, metrics_per_seed: list[dict[str, float]]) -> None:
    """One record per seed of a request, as ``run_job`` stores it, made by the registered code versions."""
    known = catalog()
    method = known.methods[request["method"]]
    task = request.get("task") or method.task
    code = {"task": task, "task_version": known.tasks[task].version, "method": request["method"],
            "method_version": method.version}
    group = config_hash({"config": request, "code": code})
    for seed, metrics in enumerate(metrics_per_seed):
        store.save(group, seed, {
            "key": {"group": group, "seed": seed}, "request": request, "config": {**request, "seed": seed},
            "code": {**code, "fairbench": "test", "git_commit": "0" * 40}, "metrics": metrics,
            "timings": {}, "data": {"dataset": request["dataset"], "files": {}}, "started": "2026-01-01T00:00:00",
        })


def write_runs(ref: str, column: str, values: list[float], row: str = "acc", scale: str = "paper") -> None:
    """The records of one cell of a synthetic table, one value per seed."""
    table = load_table(ref)
    request = request_of(cell_config(table, table.cell(row, column), scale))
    save_runs(RecordStore(), request, [{"expected_accuracy": value} for value in values])


def write_missing_data(ref: str, column: str, row: str = "acc") -> None:
    """The note the runner leaves when a cell's data is absent here."""
    table = load_table(ref)
    request = request_of(cell_config(table, table.cell(row, column), "paper"))
    RecordStore().save_failure(config_hash(request), 0, {**request, "seed": 0}, RunFailure(
        RunStatus.MISSING_DATA, "data not available: compas: not present", missing_data=("compas",)))


def test_declared_deviation_that_reproduces_fails(gate, cli):
    write_runs("syn:mixed", "A", [0.50])
    write_runs("syn:mixed", "B", [0.60])
    write_runs("syn:mixed", "C", [0.40])
    code, out, _ = cli("check", "syn:mixed")
    assert code == 0, out
    write_runs("syn:mixed", "B", [0.705])  # now within ±0.01 of the paper's 0.70
    code, out, _ = cli("check", "syn:mixed")
    assert code == 1
    assert "FAIL syn:mixed acc/B: declared deviation unexpectedly reproduces: update the spec" in out


def test_declared_failing_claim_that_holds_fails(gate, cli):
    write_runs("syn:mixed", "A", [0.50])
    write_runs("syn:mixed", "B", [0.60])
    write_runs("syn:mixed", "C", [0.40])
    code, out, _ = cli("check", "syn:mixed")
    assert code == 0 and "claim c_above_b" not in out  # C 0.40 < B 0.60: fails, as declared
    write_runs("syn:mixed", "C", [0.65])
    code, out, _ = cli("check", "syn:mixed")
    assert code == 1
    assert "FAIL syn:mixed claim c_above_b: declared failing claim holds: unexpectedly reproduces: update the spec" in out


def test_all_deviates_table_fails_when_a_record_moves_ten_percent_from_the_baseline(gate, cli):
    for column, value in (("A", 0.5), ("B", 0.6), ("C", 0.7)):
        write_runs("syn:alldev", column, [value])
    code, out, _ = cli("check", "syn:alldev")
    assert code == 0 and "no committed baseline" in out  # said, not silently passed
    code, out, _ = cli("baseline", "update", "syn:alldev")
    assert code == 0 and "3 cell(s) changed" in out and "acc/A: absent → 0.5 (n=1, deviates)" in out
    assert (gate / "tables" / "syn" / "alldev.csv").is_file() and (gate / "tables" / "syn" / "alldev.md").is_file()
    code, out, _ = cli("check", "syn:alldev")
    assert code == 0 and "syn:alldev: 3 ok, 0 failing" in out
    write_runs("syn:alldev", "B", [0.66])
    code, out, _ = cli("check", "syn:alldev")
    assert code == 1
    assert "FAIL syn:alldev acc/B:" in out and "drifted from the committed baseline: ours 0.66 (n=1), baseline 0.6" in out
    code, out, _ = cli("baseline", "update", "syn:alldev")  # the deliberate way to accept it, with the diff
    assert code == 0 and "1 cell(s) changed" in out and "acc/B: 0.6 (n=1, deviates) → 0.66 (n=1, deviates)" in out
    assert cli("check", "syn:alldev")[0] == 0


def test_deviating_cell_doubled_in_the_store_fails_and_restored_passes(gate, cli):
    for column, value in (("A", 0.5), ("B", 0.6), ("C", 0.7)):
        write_runs("syn:alldev", column, [value, value + 0.01, value - 0.01])
    assert cli("baseline", "update", "syn:alldev")[0] == 0
    store = RecordStore()
    record = collect(load_table("syn:alldev"), store)[("acc", "A")].records[0]
    doubled = copy.deepcopy(record)
    doubled["metrics"]["expected_accuracy"] *= 2
    store.save(record["key"]["group"], record["key"]["seed"], doubled)
    code, out, _ = cli("check", "syn:alldev")
    assert code == 1
    assert "FAIL syn:alldev acc/A: drifted from the committed baseline: ours 0.666667 (n=3), baseline 0.5 (n=3)" in out
    store.save(record["key"]["group"], record["key"]["seed"], record)
    assert cli("check", "syn:alldev")[0] == 0


def test_claim_with_scopes_not_run_fails_and_with_data_absent_is_partial(gate, cli):
    write_runs("syn:mixed", "A", [0.50])
    write_runs("syn:mixed", "B", [0.60])
    # C runnable but never run: all_positive holds on 2 of 3 columns only, c_positive on none
    code, out, _ = cli("check", "syn:mixed")
    assert code == 1
    assert "FAIL syn:mixed claim all_positive: partial: 2 of 3 scope(s) evaluated; C: no records: acc/C" in out
    assert "FAIL syn:mixed claim c_positive: not evaluable: 0 of 1 scope(s) evaluated" in out
    # C's data is absent here: reported as partial / not evaluable, failing only with --strict
    write_missing_data("syn:mixed", "C")
    code, out, _ = cli("check", "syn:mixed")
    assert code == 0, out
    assert "PARTIAL syn:mixed claim all_positive: partial: 2 of 3 scope(s) evaluated; the others cannot run here" in out
    assert "PARTIAL syn:mixed claim c_positive: not evaluable" in out
    code, out, _ = cli("check", "syn:mixed", "--strict")
    assert code == 1 and "FAIL syn:mixed claim all_positive: partial" in out


def test_no_records_is_not_a_pass(gate, cli):
    code, _, err = cli("check")
    assert code == 1 and "no records: run `fairbench reproduce PAPER:TABLE` first" in err
    code, out, _ = cli("check", "syn:mixed")
    assert code == 1 and "FAIL syn:mixed records: no records: run fairbench reproduce syn:mixed" in out


def test_junit_has_one_case_per_cell_and_claim(gate, cli):
    write_runs("syn:mixed", "A", [0.40])  # outside ±0.01 of 0.50
    write_runs("syn:mixed", "B", [0.60])
    write_runs("syn:mixed", "C", [0.40])
    path = gate / "junit.xml"
    code, _, _ = cli("check", "syn:mixed", "--junit", str(path))
    assert code == 1
    suite = ElementTree.parse(path).getroot().find("testsuite")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"acc/A", "acc/B", "acc/C", "claim c_above_b", "claim all_positive", "claim c_positive"}
    assert "does not reproduce the paper: ours 0.4, paper 0.50" in cases["acc/A"].find("failure").get("message")
    assert cases["claim all_positive"].find("failure") is None and suite.get("failures") == "1"


def test_usage_errors_exit_2(gate, cli):
    assert cli("check", "syn:nope")[0] == 2
    assert cli("check", "syn:mixed", "--baseline", str(gate / "absent"))[0] == 2
    assert cli("check", "syn:mixed", "--scale", "huge")[0] == 2


def test_mini_scale_is_a_stand_in_and_checked_against_a_mini_baseline_only(gate, cli):
    for column, value in (("A", 0.50), ("B", 0.70), ("C", 0.4)):
        write_runs("syn:mixed", column, [value], scale="mini")
    table = load_table("syn:mixed")
    results = collect(table, RecordStore(), "mini")
    assert {r.status for r in results.values()} == {CellStatus.STAND_IN}
    assert cli("baseline", "update", "syn:mixed", "--scale", "mini")[0] == 0
    assert cli("check", "syn:mixed", "--scale", "mini")[0] == 0
    write_runs("syn:mixed", "A", [0.55], scale="mini")
    code, out, _ = cli("check", "syn:mixed", "--scale", "mini")
    assert code == 1 and "FAIL syn:mixed acc/A: drifted from the committed baseline: ours 0.55 (n=1), baseline 0.5" in out
    # paper-scale records are not compared with the mini baseline (the same requests here: no scales block)
    code, out, _ = cli("check", "syn:mixed")
    assert "is at scale mini, these records at scale paper: not compared with it" in out


def test_ob_table1_at_mini_scale_renders_no_tick_and_no_cross(tmp_path, monkeypatch):
    """`reproduce ob:table1 --scale mini` renders stand-ins only: checked on records, not by running it."""
    monkeypatch.setenv("FAIRBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("FAIRBENCH_BENCHMARKS", raising=False)
    table = load_table("ob:table1")
    metrics_by_request: dict[str, tuple[dict, set[str]]] = {}
    for cell in table.cells.values():
        request = request_of(cell_config(table, cell, "mini"))
        metrics_by_request.setdefault(config_hash(request), (request, set()))[1].add(cell.metric)
    store = RecordStore()
    for request, metrics in metrics_by_request.values():
        if not catalog().missing(request):
            save_runs(store, request, [{metric: 0.1 + 0.01 * seed for metric in metrics} for seed in range(2)])
    results = collect(table, store, "mini")
    assert any(r.status == CellStatus.STAND_IN for r in results.values())
    assert not {r.status for r in results.values()} & {CellStatus.REPRODUCED, CellStatus.DEVIATES}
    text = render(table, results, "md", "mini")
    assert "Scale: mini" in text and "~ stand-in (not compared with the paper at this scale)" in text
    table_body = text.split("| ", 1)[1].split("Notes:")[0]  # the grid, after the header's legend
    assert "✓" not in table_body and "✗" not in table_body and " ~" in table_body
    assert r"$\sim$ \\" in render(table, results, "latex", "mini")  # the mark, not LaTeX's non-breaking space


def test_the_tolerance_is_k_standard_errors_of_the_difference():
    # ours: 10 seeds, std 0.1; paper: std 0.2 over 5 runs -> SE = sqrt(0.01/10 + 0.04/5) = 0.0949
    error = standard_error_of_difference(0.1, 10, 0.2, 5)
    assert error == pytest.approx((0.001 + 0.008) ** 0.5)
    assert Tolerance(k=2).allows(0.5 + 0.18, 0.5, error) and not Tolerance(k=2).allows(0.5 + 0.2, 0.5, error)
    # the number of runs behind the paper's std unknown: the paper's value is taken as exact
    assert standard_error_of_difference(0.1, 10, 0.2, None) == pytest.approx(0.1 / 10 ** 0.5)
    # one seed of ours has no spread: only the spec's absolute tolerance is left
    assert standard_error_of_difference(None, 1, None, None) == 0.0
    assert not Tolerance(abs=0.001).allows(0.0049, 8.2e-7, 0.0)


@pytest.mark.parametrize("tolerance,message", [
    ("{rel: 0.1}", "near zero"),
    ("{k_std: 2}", "'k_std' was removed"),
    ("{width: 1}", "unknown tolerance key"),
])
def test_spec_loader_refuses_dishonest_tolerances(tmp_path, tolerance, message):
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD.format(table="bad") + f"cells:\n  acc:\n    A: {{reported: '0.02', tolerance: {tolerance}}}\n")
    with pytest.raises(FairbenchError, match=message):
        load_spec(path)


def test_relative_tolerance_away_from_zero_is_accepted(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(HEAD.format(table="ok") + "cells:\n  acc:\n    A: {reported: '0.5744', tolerance: {rel: 0.01}}\n")
    assert load_spec(path).cell("acc", "A").tolerance.rel == 0.01


def test_your_tables_and_the_committed_ones_are_different_folders(tmp_path, monkeypatch):
    from fairbench.core import settings

    monkeypatch.delenv("FAIRBENCH_TABLES", raising=False)
    monkeypatch.delenv("FAIRBENCH_BASELINE", raising=False)
    monkeypatch.setenv("FAIRBENCH_RESULTS", str(tmp_path / "results"))
    assert settings.tables_dir() == tmp_path / "results" / "tables"
    assert settings.baseline_dir() == settings.benchmarks_dir().parent / "tables" != settings.tables_dir()
    monkeypatch.setenv("FAIRBENCH_TABLES", str(tmp_path / "mine"))
    assert settings.tables_dir() == tmp_path / "mine"
