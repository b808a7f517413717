"""The hostile-input battery of issue 13: one section per row of the issue's table, so each finding stays
fixed. Rows tested at length elsewhere are referenced, not repeated:

| row of #13                                      | tests                                                        |
|-------------------------------------------------|--------------------------------------------------------------|
| planted pickle + resume                         | here (CLI, copied folder) and tests/test_artifacts.py        |
| render cut mid-write (ulimit -f)                | here and tests/test_atomic_writes.py (SIGKILL, RLIMIT_FSIZE)   |
| two processes saving one record key             | here and tests/test_atomic_writes.py (2 x 200 saves)          |
| stray ``.part`` files after a killed download   | tests/test_download_cli.py::test_stray_part_files_are_reported_then_cleaned, ::test_download_killed_with_sigkill_leaves_a_part_that_verify_reports_and_download_cleans |
| read-only / full ``FAIRBENCH_DATA``             | tests/test_download_cli.py::test_unwritable_cache_is_one_line_exit_2, ::test_disk_full_while_copying; read-only / full results and tables folders: here |
| huge ``--seeds`` / ``--jobs``                   | here                                                         |
| ``--set`` of the wrong type or range            | here                                                         |
| crafted KuaiRec zip, zip bomb                   | tests/test_download_cli.py::test_crafted_kuairec_zip_is_refused_with_one_line, ::test_archive_limits |
| artifacts and the run rename not fsynced        | here                                                         |
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_artifacts import WritesMarker

from fairbench.core import atomic
from fairbench.core.errors import FairbenchError
from fairbench.runner import plan as plan_module
from fairbench.specs import load_table
from fairbench.store import RecordStore

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


# ---------------------------------------------------------------- a planted pickle in a copied results folder
FIG1_SUBSET = ("reproduce", "fairunlearn:fig1", "--datasets", "compas", "--methods", "newton")


def test_planted_pickle_in_a_copied_results_folder_writes_no_marker(cli, fb_env, tmp_path, monkeypatch, caplog):
    code, _, err = cli(*FIG1_SUBSET)
    assert code == 0, err
    original = RecordStore()
    base_runs = [r for r in original.iter_records() if r["config"]["task"] == "train_base"]
    assert len(base_runs) == 1 and base_runs[0]["objects"] == ["model"]
    base_key = base_runs[0]["key"]
    _, expected, _ = cli("render", "fairunlearn:fig1", "--format", "csv")

    copied = tmp_path / "shared-by-someone"
    shutil.copytree(original.root, copied)
    monkeypatch.setenv("FAIRBENCH_RESULTS", str(copied))
    store = RecordStore()
    base_dir = store.run_dir(base_key["group"], base_key["seed"])
    marker = tmp_path / "marker"
    (base_dir / "model.pkl").write_bytes(pickle.dumps(WritesMarker(marker)))
    for name in ("model.json", "model.npz"):  # the layout of a record written before #13
        (base_dir / name).unlink()
    record = json.loads((base_dir / "record.json").read_text())
    del record["artifacts"]
    (base_dir / "record.json").write_text(json.dumps(record))
    unlearn_runs = [r for r in store.iter_records() if r["config"]["task"] == "unlearn"]
    shutil.rmtree(store.run_dir(unlearn_runs[0]["key"]["group"], unlearn_runs[0]["key"]["seed"]))

    code, out, err = cli(*FIG1_SUBSET)  # the resume needs the original model again: retrained, not unpickled
    assert code == 0, err
    assert "ran 2" in out  # the unreadable original and the removed cell
    assert not marker.exists()
    assert f"artifact {base_dir / 'model.json'} is not listed" in caplog.text  # said why it ran again
    assert json.loads((base_dir / "record.json").read_text())["artifacts"].keys() == {"model.json", "model.npz"}
    for command in (("render", "fairunlearn:fig1", "--format", "csv"), ("check", "fairunlearn:fig1")):
        code, out, err = cli(*command)
        assert code in (0, 1) and "Traceback" not in err and not marker.exists()
    assert cli("render", "fairunlearn:fig1", "--format", "csv")[1] == expected


# ---------------------------------------------------------------- a render cut mid-write
def test_render_under_a_file_size_limit_keeps_the_old_table(tmp_path):
    out = tmp_path / "mixed.md"
    out.write_text("old\n")
    script = ("import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100)); "
              "from fairbench.cli import main; main()")
    env = {**os.environ, "PYTHONPATH": str(REPO), "FAIRBENCH_BENCHMARKS": str(GOLDEN / "benchmarks"),
           "FAIRBENCH_RESULTS": str(GOLDEN / "results")}
    proc = subprocess.run([sys.executable, "-c", script, "render", "demo:mixed", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "file-size limit" in one_line(proc.stderr)
    assert out.read_text() == "old\n"


def test_plots_are_rendered_to_a_temporary_file_then_renamed(tmp_path, monkeypatch):
    from test_fairunlearn_task import _toy

    from fairbench.report.plots import plot_table

    committed = []
    real_commit = atomic.commit

    def spy(tmp, dest):
        committed.append((Path(tmp).name, Path(dest).name, Path(tmp).read_bytes()[:4]))
        real_commit(tmp, dest)

    monkeypatch.setattr(atomic, "commit", spy)
    table, results = _toy(tmp_path, {("a", "g1-1"): [0.1, 0.2], ("b", "g1-1"): [0.2, 0.2]})
    written = plot_table(table, results, tmp_path / "out")
    assert [dest for _, dest, _ in committed] == [p.name for p in written]
    assert all(tmp.startswith(f".{dest}.") and tmp.endswith(".part") for tmp, dest, _ in committed)
    assert committed[0][2] == b"\x89PNG" and committed[1][2] == b"%PDF"  # the format is not taken from the name
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in written)


# ---------------------------------------------------------------- two writers of one record key
def test_two_writers_interleaving_records_and_failure_notes(tmp_path):
    script = textwrap.dedent("""
        import sys
        from fairbench.core.status import RunFailure, RunStatus
        from fairbench.store import RecordStore
        store = RecordStore(sys.argv[1])
        for n in range(60):
            if n % 3 == 0:
                store.save_failure("g", 0, {"method": "m"}, RunFailure(RunStatus.CRASHED, f"note {n}"))
            store.save("g", 0, {"metrics": {"n": float(n)}}, arrays={"a": list(range(n + 1))})
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], env=env, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    store = RecordStore(tmp_path)
    assert store.load("g", 0)["metrics"]["n"] == 59
    assert not any(p.name.startswith((".tmp-", ".trash-")) for p in (tmp_path / "runs" / "g").iterdir())
    assert store.failure("g") is None  # the record supersedes the notes


# ---------------------------------------------------------------- read-only or full results / tables folders
@pytest.mark.parametrize("code, word", [(errno.EROFS, "read-only"), (errno.ENOSPC, "full")])
def test_unwritable_results_folder_is_one_line_exit_2_before_any_job(cli, fb_env, monkeypatch, code, word):
    import tempfile

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(GOLDEN / "benchmarks"))
    exit_code, _, err = cli("reproduce", "demo:runs")
    line = one_line(err)
    assert exit_code == 2 and word in line and "FAIRBENCH_RESULTS" in line
    assert not list((fb_env / "results").glob("runs/*/seed-*"))


def test_results_folder_filling_up_mid_run_is_one_line_exit_2(cli, fb_env, monkeypatch):
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(GOLDEN / "benchmarks"))
    real = atomic.write_bytes

    def full_for_records(dest, data, **kwargs):
        if Path(dest).name == "done":
            raise atomic.NotWritable(Path(dest).parent, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        return real(dest, data, **kwargs)

    monkeypatch.setattr(atomic, "write_bytes", full_for_records)
    exit_code, _, err = cli("reproduce", "demo:runs")
    line = one_line(err)
    assert exit_code == 2 and "full" in line and "FAIRBENCH_RESULTS" in line
    group_dirs = list((fb_env / "results" / "runs").iterdir())
    assert all(not p.name.startswith(".tmp-") for g in group_dirs for p in g.iterdir())


def test_results_path_that_is_a_file_is_one_line_exit_2(cli, fb_env, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("FAIRBENCH_RESULTS", str(blocker))
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(GOLDEN / "benchmarks"))
    exit_code, _, err = cli("reproduce", "demo:runs")
    assert exit_code == 2 and "not-a-folder" in one_line(err)


def test_unwritable_tables_folder_is_one_line_exit_2(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(GOLDEN / "benchmarks"))
    monkeypatch.setenv("FAIRBENCH_RESULTS", str(GOLDEN / "results"))
    import tempfile

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    exit_code, _, err = cli("render", "demo:mixed", "--out", str(tmp_path / "out" / "mixed.md"))
    assert exit_code == 2 and "read-only" in one_line(err)


# ---------------------------------------------------------------- huge --seeds / --jobs
@pytest.mark.parametrize("args, message", [
    (["--seeds", "1000000"], "above the limit of 1000 seeds per cell"),
    (["--jobs", str(10 * 4 * (os.cpu_count() or 1))], "--jobs"),
])
def test_huge_sizes_are_refused_before_planning(cli, fb_env, monkeypatch, args, message):
    def never(*a, **k):
        raise AssertionError("planned")

    monkeypatch.setattr(plan_module, "plan_table", never)
    exit_code, _, err = cli("reproduce", "ob:table2", *args)
    assert exit_code == 2 and message in one_line(err) and "--yes" in err


def test_too_many_runs_in_all_is_refused_and_yes_lets_it_through(cli, fb_env, monkeypatch):
    exit_code, _, err = cli("reproduce", "all", "--seeds", "1000")
    assert exit_code == 2 and "above the limit of 20000" in one_line(err)
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(GOLDEN / "benchmarks"))
    from fairbench.runner import reproduce as reproduce_module

    def stop(*a, **k):
        raise FairbenchError("reached the run")

    monkeypatch.setattr(reproduce_module, "reproduce_table", stop)
    exit_code, _, err = cli("reproduce", "demo:runs", "--seeds", "1001", "--yes")
    assert exit_code == 2 and "reached the run" in one_line(err)


def test_check_bounds_counts_without_planning():
    table = load_table("ob:table2")
    runs = plan_module.check_bounds([table], seeds=3, jobs=1)
    assert runs == 3 * len(plan_module.selected_cells(table))
    with pytest.raises(FairbenchError, match="limit of 20000"):
        plan_module.check_bounds([table] * 10, seeds=1000, jobs=1)


def test_reproduce_states_the_number_of_jobs(cli, fb_env, monkeypatch):
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(GOLDEN / "benchmarks"))
    exit_code, out, err = cli("reproduce", "demo:runs", "--seeds", "1")
    assert exit_code == 0, err
    assert "demo:runs: 2 job(s) to run" in out


# ---------------------------------------------------------------- --set of the wrong type or range
@pytest.mark.parametrize("args, message", [
    (["--method", "ob", "--dataset", "compas@flap", "--set", "k=abc"], "params.k: 'abc' is not of type int"),
    (["--method", "ob", "--dataset", "compas@flap", "--set", "k=2.5"], "params.k: 2.5 is not of type int"),
    (["--method", "newton", "--dataset", "compas@fairunlearn", "--protocol", "uniform",
      "--set", "model.method=fair_logreg", "--set", "protocol.fraction=0"], "protocol.fraction: expected a number with 0 < fraction < 1, got 0"),
    (["--method", "newton", "--dataset", "compas@fairunlearn", "--set", "model.method=fair_logreg",
      "--set", "protocol.name=uniform", "--set", "protocol.fraction=abc"], "protocol.fraction: expected a number"),
    (["--method", "newton", "--dataset", "compas@fairunlearn", "--protocol", "uniform", "--fraction", "0.1",
      "--set", "model.method=fair_logreg", "--set", "model.params.l2=abc"], "model.params.l2: 'abc' is not of type float"),
    (["--method", "sisa", "--dataset", "compas@fairunlearn", "--protocol", "uniform", "--fraction", "0.1",
      "--set", "model.method=sisa_ensemble", "--set", "model.params.shards=2.5"], "model.params.shards: 2.5 is not of type int"),
])
def test_wrong_types_and_ranges_in_set_are_one_line_exit_2(cli, fb_env, args, message):
    exit_code, _, err = cli("run", *args)
    assert exit_code == 2 and message in one_line(err)
    assert not (fb_env / "results" / "runs").exists()  # refused before anything ran or was recorded


def test_set_nests_into_the_protocol_given_by_option():
    from fairbench.cli import _parse_sets
    from fairbench.specs import merge_blocks

    config = {"protocol": {"name": "uniform"}}
    assert merge_blocks(config, _parse_sets(["protocol.fraction=0.2"])) == {"protocol": {"name": "uniform", "fraction": 0.2}}


# ---------------------------------------------------------------- artifacts and renames fsynced
def test_save_fsyncs_every_file_and_both_folders(tmp_path, monkeypatch):
    synced_files, synced_dirs = [], []
    real_fsync, real_dir = os.fsync, atomic.fsync_dir

    def fsync(fd):
        synced_files.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    def fsync_dir(folder):
        synced_dirs.append(Path(folder).name)
        return real_dir(folder)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(atomic, "fsync_dir", fsync_dir)
    RecordStore(tmp_path).save("g", 0, {"metrics": {}}, arrays={"forget": np.arange(3)},
                               artifacts={"model.json": b"{}", "model.npz": b"x"})
    names = {Path(p).name.split(".part")[0].lstrip(".") for p in synced_files}
    for name in ("forget.npy", "model.json", "model.npz", "record.json", "done"):
        assert any(n.startswith(name) for n in names), (name, names)
    assert synced_dirs[-1] == "g"  # the run folder's rename into place is made durable
    assert any(d.startswith(".tmp-seed-0-") for d in synced_dirs)
