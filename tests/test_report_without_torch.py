"""The report layer reads records only: ``render``, ``check`` and ``list`` work where torch cannot be imported.

A subprocess puts a fake ``torch`` package first on ``sys.path`` (importing it notes the attempt and
raises), renders every committed table spec from the records of a real ``ob:table2`` reproduction
(cells without records render not run), checks, lists, and then asserts that neither torch, the
methods nor the runner were imported.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fairbench.report.render import FORMATS, render
from fairbench.report.results import collect
from fairbench.runner.reproduce import reproduce_table
from fairbench.specs import load_table, spec_paths
from fairbench.store import RecordStore

REPO = Path(__file__).resolve().parents[1]

FAKE_TORCH = """\
import os
with open(os.environ["FAKE_TORCH_LOG"], "a") as log:
    log.write("torch was imported\\n")
raise ImportError("torch is unimportable in this test")
"""

# Runs in the subprocess: every table in every format, check (all tables and ob:table2), list.
SCRIPT = """\
import contextlib, io, sys
from pathlib import Path
from fairbench.cli import app

out = Path(sys.argv[1])
refs = sys.argv[2:]


def invoke(*args):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        try:
            code = app(list(args), standalone_mode=False) or 0  # click returns typer.Exit's code here
        except Exception as exc:  # a user error (exit 2 from the real entry point) or a crash
            code = repr(exc)
    return code, buffer.getvalue()


for ref in refs:
    for fmt in ("md", "latex", "csv", "json"):
        code, text = invoke("render", ref, "--format", fmt)
        assert code == 0, (ref, fmt, code, text)
        (out / f"{ref.replace(':', '_')}.{fmt}").write_text(text)
# the paper side only: the committed baseline may come from other numerical library versions
for args in (("check",), ("check", "ob:table2", "--paper-only"), ("list", "tables"), ("list", "methods")):
    code, text = invoke(*args)
    (out / ("_".join(args) + ".txt")).write_text(f"exit {code}\\n{text}")
imported = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "fairbench.methods", "fairbench.runner")))
(out / "imported.txt").write_text("\\n".join(imported))
"""


@pytest.fixture(scope="module")
def ob_records(tmp_path_factory, mirror):
    """A store with a real reproduction of ob:table2 (seconds), made with torch importable."""
    root = tmp_path_factory.mktemp("records")
    env = {"FAIRBENCH_DATA": str(tmp_path_factory.mktemp("data")), "FAIRBENCH_MIRROR": str(mirror),
           "FAIRBENCH_OFFLINE": "1", "FAIRBENCH_RESULTS": str(root)}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        from fairbench.datasets import _load_cached

        _load_cached.cache_clear()
        summary = reproduce_table(load_table("ob:table2"), RecordStore(root))
        assert summary.count("ran") > 0
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return root


@pytest.mark.slow
def test_render_check_and_list_every_table_without_torch(ob_records, tmp_path, monkeypatch):
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text(FAKE_TORCH)
    log = tmp_path / "torch-imports.log"
    out = tmp_path / "out"
    out.mkdir()
    refs = list(spec_paths())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(REPO)]), "FAKE_TORCH_LOG": str(log),
           "FAIRBENCH_RESULTS": str(ob_records), "FAIRBENCH_OFFLINE": "1",
           "COLUMNS": "300"}  # rich wraps tables to the terminal width
    env.pop("FAIRBENCH_BENCHMARKS", None)
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "unimportable" in probe.stderr  # the fake is what `import torch` finds
    log.unlink()

    done = subprocess.run([sys.executable, "-c", SCRIPT, str(out), *refs], env=env, capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not log.exists(), "the report layer tried to import torch"
    assert (out / "imported.txt").read_text() == "", "imported: " + (out / "imported.txt").read_text()

    # every table rendered, and identically to a render in a process where torch and the registries are loaded
    monkeypatch.delenv("FAIRBENCH_BENCHMARKS", raising=False)
    store = RecordStore(ob_records)
    for ref in refs:
        table = load_table(ref)
        results = collect(table, store)
        for fmt in FORMATS:
            assert (out / f"{ref.replace(':', '_')}.{fmt}").read_text() == render(table, results, fmt), (ref, fmt)
    ob = (out / "ob_table2.csv").read_text().splitlines()
    assert sum(line.endswith(",reproduced") for line in ob) >= 6  # the reproduction is rendered, not "not run"

    # without a table, check takes every table with records: ob:table5 shares some cells' runs with ob:table2
    # and fails on the others (not run), so only the exit code's kind and table2's line are fixed here
    check_all = (out / "check.txt").read_text()
    assert check_all.split("\n")[0] in ("exit 0", "exit 1") and re.search(r"ob:table2: \d+ ok, \d+ failing", check_all)
    assert (out / "check_ob:table2_--paper-only.txt").read_text().startswith("exit 0")
    tables = (out / "list_tables.txt").read_text()
    assert tables.startswith("exit 0") and "ob:table2" in tables
    methods = (out / "list_methods.txt").read_text()
    assert methods.startswith("exit 0") and "fair_unlearning" in methods


@pytest.mark.slow
def test_a_method_version_bump_renders_real_records_stale(ob_records, monkeypatch):
    """Records of a real run, read with a catalog where the method moved on: same value, marked stale."""
    import dataclasses

    from fairbench.catalog import Catalog, catalog

    monkeypatch.delenv("FAIRBENCH_BENCHMARKS", raising=False)
    table, store = load_table("ob:table2"), RecordStore(ob_records)
    current = collect(table, store)
    methods = dict(catalog().methods)
    methods["ml"] = dataclasses.replace(methods["ml"], version=methods["ml"].version + "-next")
    bumped = collect(table, store, known=Catalog(methods, catalog().tasks))
    for key, result in current.items():
        assert bumped[key].value == result.value and bumped[key].status == result.status
        assert bool(bumped[key].stale) == (result.cell.run.get("method") == "ml"), key
    ml = next(r for r in bumped.values() if r.cell.run.get("method") == "ml")
    assert f"made by method ml version {catalog().methods['ml'].version}, current " in ml.stale
