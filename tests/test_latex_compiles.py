"""Every committed LaTeX table (``tables/**/*.tex``) compiles with a LaTeX engine.

The files are table fragments (``\\begin{table}...``) meant to be ``\\input`` into a paper, so each is
wrapped in a minimal document with the packages the renderer's commands come from (booktabs rules,
amssymb's ``\\checkmark``). Skipped, with the reason, where no engine is installed: TeX Live
(``apt-get install texlive-latex-recommended texlive-fonts-recommended``) or tectonic give one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEX_FILES = sorted((REPO / "tables").glob("**/*.tex"))
# lualatex reads the UTF-8 of the labels (×, ±, λ) natively; pdflatex through inputenc
ENGINES = ("lualatex", "pdflatex", "tectonic")
PREAMBLE = r"""\documentclass{article}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{booktabs,amssymb,amsmath,graphicx}
\begin{document}
"""


def _engine() -> str | None:
    return next((name for name in ENGINES if shutil.which(name)), None)


@pytest.mark.skipif(_engine() is None, reason="no LaTeX engine (lualatex, pdflatex or tectonic) is installed")
@pytest.mark.parametrize("tex", TEX_FILES, ids=[str(p.relative_to(REPO / "tables")) for p in TEX_FILES])
def test_committed_table_compiles(tex: Path, tmp_path: Path):
    engine = _engine()
    document = tmp_path / "table.tex"
    document.write_text(PREAMBLE + tex.read_text() + "\n\\end{document}\n")
    command = [engine, "table.tex"] if engine == "tectonic" else [engine, "-interaction=nonstopmode", "-halt-on-error", "table.tex"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    errors = [line for line in done.stdout.splitlines() if line.startswith("!")]
    assert done.returncode == 0, f"{tex.relative_to(REPO)}: {errors or done.stdout[-2000:] + done.stderr[-2000:]}"
    assert (tmp_path / "table.pdf").is_file()


def test_there_are_tables_to_compile():
    assert TEX_FILES, "no committed tables/**/*.tex"
