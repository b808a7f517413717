"""Golden test of the renderer: frozen records + frozen spec -> byte-identical md/LaTeX/CSV/JSON.

Regenerate with ``FAIRBENCH_UPDATE_GOLDEN=1 pytest tests/test_render_golden.py`` after an intended
change of the output, and review the diff.
"""

import os
import sys
from pathlib import Path

import pytest

from fairbench.report.render import FORMATS, render
from fairbench.report.results import collect
from fairbench.specs import load_table
from fairbench.store import RecordStore

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))
from frozen_registry import register  # noqa: E402

register()


@pytest.fixture()
def demo(monkeypatch):
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(GOLDEN / "benchmarks"))
    table = load_table("demo:mixed")
    return table, collect(table, RecordStore(GOLDEN / "results"))


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
    assert status[("acc", "ML")] == "reproduced"  # mean 0.5744 over 3 seeds
    assert status[("acc", "FTU")] == "deviates"  # expected deviation, with its reason
    assert results[("acc", "FTU")].reason == "a known quirk of the paper's code"
    assert status[("acc", "NEW")] == "not-run"
    assert "not implemented" in results[("acc", "NEW")].reason
    assert status[("cf", "FTU")] == "no-reference"
    assert status[("time", "ML")] == "reported-only"
    assert results[("acc", "ML")].n == 3 and results[("acc", "ML")].std == pytest.approx(0.001)
