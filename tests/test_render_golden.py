"""Golden test of the renderer: frozen records + frozen spec + frozen catalog -> byte-identical md/LaTeX/CSV/JSON.

The records under ``tests/golden/results`` are written by ``tests/golden/make_golden.py`` as the
runner stores them; the methods and task they name exist only in ``tests/golden/catalog.json``, so
no registry is touched and the renderer reads records only. Regenerate the outputs with
``FAIRBENCH_UPDATE_GOLDEN=1 pytest tests/test_render_golden.py`` after an intended change, and
review the diff.
"""

import json
import os
from pathlib import Path

import pytest

from fairbench.catalog import Catalog, MethodInfo, TaskInfo
from fairbench.core.status import CellStatus
from fairbench.report.check import Verdict, check_table
from fairbench.report.render import FORMATS, render
from fairbench.report.results import collect
from fairbench.specs import load_table
from fairbench.store import RecordStore

GOLDEN = Path(__file__).parent / "golden"


def frozen_catalog() -> Catalog:
    doc = json.loads((GOLDEN / "catalog.json").read_text())
    return Catalog({name: MethodInfo(name=name, **entry) for name, entry in doc["methods"].items()},
                   {name: TaskInfo(name=name, **entry) for name, entry in doc["tasks"].items()})


@pytest.fixture()
def demo(monkeypatch):
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(GOLDEN / "benchmarks"))
    table = load_table("demo:mixed")
    return table, collect(table, RecordStore(GOLDEN / "results"), known=frozen_catalog())


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_matches_golden(demo, fmt):
    table, results = demo
    text = render(table, results, fmt)
    expected = GOLDEN / f"mixed.{fmt}"
    if os.environ.get("FAIRBENCH_UPDATE_GOLDEN"):
        expected.write_text(text)
    assert text == expected.read_text()


def test_statuses_cover_every_case(demo):
    _, results = demo
    status = {key: r.status for key, r in results.items()}
    assert status[("acc", "ML")] == CellStatus.REPRODUCED  # mean 0.5744 over 3 seeds
    assert status[("acc", "FTU")] == CellStatus.DEVIATES  # expected deviation, with its reason
    assert results[("acc", "FTU")].reason == "a known quirk of the paper's code"
    assert status[("acc", "NEW")] == CellStatus.NOT_RUN
    assert results[("acc", "NEW")].reason == "method not implemented: 'not_a_method'"
    assert not results[("acc", "NEW")].runnable
    assert status[("cf", "FTU")] == CellStatus.NO_REFERENCE
    assert status[("time", "ML")] == CellStatus.REPORTED_ONLY
    assert results[("acc", "ML")].n == 3 and results[("acc", "ML")].std == pytest.approx(0.001)


def test_current_records_win_over_stale_ones(demo):
    _, results = demo
    ftu = results[("acc", "FTU")]
    assert ftu.value == pytest.approx(0.58) and ftu.n == 3 and not ftu.stale  # the version-0 runs (≈ 0.1) are not used
    assert {r["code"]["method_version"] for r in ftu.records} == {"1"}


def test_records_of_older_code_render_stale_not_missing(demo):
    table, results = demo
    old = results[("acc", "OLD")]
    assert old.status == CellStatus.REPRODUCED and old.value == pytest.approx(0.5702) and old.n == 3
    assert old.stale == "made by method golden_old version 1, current 2: rerun with fairbench reproduce demo:mixed"
    assert all(results[(row, "OLD")].stale for row in ("acc", "cf", "time"))
    assert "0.5702 ± 0.0010 (0.5700) ✓ stale" in render(table, results, "md")
    assert [r.cell.column for r in check_table(table, results).stale] == ["OLD", "OLD", "OLD"]


def test_failure_notes_are_read_as_data(demo):
    table, results = demo
    hsls = results[("acc", "HSLS")]
    assert hsls.status == CellStatus.NOT_RUN and hsls.reason.startswith("data not available: hsls")
    assert not hsls.runnable  # data absent here: check skips the cell instead of failing it
    report = check_table(table, results)
    finding = next(f for f in report.findings if f.subject == "acc/HSLS")
    assert finding.verdict == Verdict.SKIPPED and "cannot run here" in finding.message


def test_a_new_version_makes_current_records_stale(monkeypatch):
    """The same records, read with a catalog where golden_ml moved on, render stale but keep their values."""
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(GOLDEN / "benchmarks"))
    table = load_table("demo:mixed")
    known = frozen_catalog()
    known.methods["golden_ml"] = MethodInfo("golden_ml", "predictor", "golden_task", "2", "bumped")
    known.tasks["golden_task"] = TaskInfo("golden_task", "3", "bumped")
    ml = collect(table, RecordStore(GOLDEN / "results"), known=known)[("acc", "ML")]
    assert ml.value == pytest.approx(0.5744) and ml.status == CellStatus.REPRODUCED
    assert ml.stale.startswith("made by task golden_task version 1, current 3; method golden_ml version 1, current 2")
