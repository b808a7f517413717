"""Tables read like the paper's: one number format per row, plain-text markdown headers, one dash for not-run,
LaTeX that compiles."""

import subprocess

import pytest

from fairbench.report.render import NumberFormat, render, row_format
from tests.test_latex_compiles import PREAMBLE, _engine
from tests.test_render_golden import demo  # noqa: F401  (fixture)

# ob:table2's AA Fairness row as the paper prints it
AA_ROW = ["0.2258", "0.1460", "0", "0.1424", "0", "2.9e-07", "5.6e-07", "8.2e-07", "3.0e-07", "1.6e-16", "1.1e-16"]


def test_a_mixed_row_takes_the_papers_fixed_precision():
    number = row_format(AA_ROW)
    assert number == NumberFormat(4)
    assert [number(v) for v in (0.22577867633651777, 1.1102230246251565e-16, 0.0, 0.005019320916900882)] == [
        "0.2258", "0.0000", "0.0000", "0.0050"]
    assert [number.paper(t) for t in ("0", "2.9e-07", "0.1460")] == ["0.0000", "0.0000", "0.1460"]


def test_tiny_negative_values_do_not_print_a_sign():
    assert NumberFormat(4)(-7.2e-16) == "0.0000"
    assert NumberFormat(4)(-0.01234) == "-0.0123"


def test_the_most_digits_the_paper_prints_win_and_a_bare_zero_says_nothing():
    assert row_format(["0.57", "0.5744", "0"]) == NumberFormat(4)
    assert row_format(["68", "70"]) == NumberFormat(0)
    assert row_format(["0", "0.1"]) == NumberFormat(1)


def test_a_row_printed_in_scientific_notation_stays_scientific():
    number = row_format(["1.6e-16", "0", "2.25e-17"])
    assert number == NumberFormat(2, scientific=True)
    assert [number(v) for v in (7.216449660063518e-16, 0.0)] == ["7.22e-16", "0"]
    assert number.paper("1.6e-16") == "1.60e-16"


def test_rows_without_paper_values_use_four_decimals():
    assert row_format([]) == NumberFormat(4)
    assert row_format(["n/a"]) == NumberFormat(4)
    assert NumberFormat(4).paper("n/a") == "n/a"
    assert NumberFormat(4)(float("nan")) == "nan"


def test_markdown_headers_and_not_run_cells_are_plain_text(demo):  # noqa: F811
    table, results = demo
    text = render(table, results, "md")
    assert "<br>" not in text and "– –" not in text
    header = next(line for line in text.splitlines() if line.startswith("|  "))
    assert [c.strip() for c in header.strip("|").split("|")][1:] == [
        "Baselines: ML", "FTU", "Ours: New", "Old", "ML on HSLS"]
    assert "| — (0.5666)  |" in text and "— not run" in text


@pytest.mark.skipif(_engine() is None, reason="no LaTeX engine (lualatex, pdflatex or tectonic) is installed")
def test_rendered_latex_compiles(demo, tmp_path):  # noqa: F811
    table, results = demo
    engine = _engine()
    (tmp_path / "table.tex").write_text(PREAMBLE + render(table, results, "latex") + "\n\\end{document}\n")
    command = [engine, "table.tex"] if engine == "tectonic" else [engine, "-interaction=nonstopmode", "-halt-on-error", "table.tex"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "table.pdf").is_file()
