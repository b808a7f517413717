"""Record store and runner: atomic writes, resume without redoing finished cells, failures noted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fairbench.runner.jobs import make_job
from fairbench.runner.reproduce import reproduce_table
from fairbench.specs import load_table
from fairbench.store import RecordStore

GOLDEN_SPECS = Path(__file__).parent / "golden" / "benchmarks"


@pytest.fixture()
def demo_table(monkeypatch):
    """A small fixed spec (ML and FTU on compas@flap, 3 seeds each), independent of the real tables."""
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(GOLDEN_SPECS))
    return load_table("demo:runs")


def test_save_is_atomic(tmp_path, monkeypatch):
    store = RecordStore(tmp_path)
    real_rename = os.rename

    def crash(src, dst):
        raise OSError("killed mid-write")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError):
        store.save("g", 0, {"metrics": {"x": 1.0}})
    monkeypatch.setattr(os, "rename", real_rename)
    assert not store.has("g", 0)
    assert store.seeds("g") == []
    store.save("g", 0, {"metrics": {"x": 2.0}})
    assert store.load("g", 0)["metrics"]["x"] == 2.0
    store.save("g", 0, {"metrics": {"x": 3.0}})  # --force replaces
    assert store.load("g", 0)["metrics"]["x"] == 3.0
    assert [p.name for p in (tmp_path / "runs" / "g").iterdir() if not p.name.startswith(".tmp")] == ["seed-0"]


def test_half_written_run_is_ignored(tmp_path):
    store = RecordStore(tmp_path)
    folder = store.run_dir("g", 1)
    folder.mkdir(parents=True)
    (folder / "record.json").write_text("{")  # no done marker: a process died here
    assert not store.has("g", 1) and store.seeds("g") == []


def test_reproduce_resumes_without_redoing(fb_env, demo_table):
    table = demo_table
    store = RecordStore()
    first_job = make_job({"method": "ml", "dataset": "compas@flap", "task": "cf_discrete", "seed": 0})
    from fairbench.runner.jobs import run_job

    assert run_job(first_job).status == "ran"
    stamp = (store.run_dir(first_job.group, 0) / "record.json").stat().st_mtime_ns
    summary = reproduce_table(table, store)
    assert [(j.config["method"], j.seed) for j in summary.reused] == [("ml", 0)]
    assert sorted((o.job.config["method"], o.job.seed) for o in summary.outcomes) == [
        ("ftu", 0), ("ftu", 1), ("ftu", 2), ("ml", 1), ("ml", 2)]
    assert (store.run_dir(first_job.group, 0) / "record.json").stat().st_mtime_ns == stamp
    again = reproduce_table(table, store)
    assert not again.outcomes and len(again.reused) == 6
    forced = reproduce_table(table, store, force=True)
    assert len(forced.outcomes) == 6 and not forced.reused


def test_record_provenance(fb_env):
    from fairbench.runner.jobs import run_job

    job = make_job({"method": "ftu", "dataset": "compas@flap"})
    run_job(job)
    record = RecordStore().load(job.group, job.seed)
    assert record["config"] == {"method": "ftu", "dataset": "compas@flap", "task": "cf_discrete", "seed": 0}
    assert record["code"]["method_version"] and record["code"]["git_commit"]
    assert record["data"]["files"]["compas-scores-two-years.csv"].startswith("c451db85")
    assert record["environment"]["packages"]["numpy"]
    assert record["memory"]["max_rss_mb"] > 0 and record["timings"]["total_s"] > 0
    assert "peak_traced_mb" not in record["memory"]  # tracing every allocation is opt-in (it is slow)


def test_memory_tracing_is_opt_in(fb_env, monkeypatch):
    from fairbench.runner.jobs import run_job

    monkeypatch.setenv("FAIRBENCH_TRACE_MEMORY", "1")
    job = make_job({"method": "ftu", "dataset": "compas@flap"})
    run_job(job)
    memory = RecordStore().load(job.group, job.seed)["memory"]
    assert memory["peak_traced_mb"] > 0 and memory["max_rss_mb"] > 0


def test_failure_is_noted_for_the_renderer(fb_env, monkeypatch, tmp_path):
    from fairbench.runner.jobs import run_job

    monkeypatch.setenv("FAIRBENCH_DATA", str(tmp_path / "empty"))
    monkeypatch.delenv("FAIRBENCH_MIRROR")
    job = make_job({"method": "ml", "dataset": "compas@flap-corrected"})
    outcome = run_job(job)
    assert outcome.status == "missing-data" and outcome.failure.missing_data == ("compas",)
    assert "data not available" in RecordStore().failure(job.group).message


def test_process_executor_matches_serial(fb_env, demo_table):
    store = RecordStore()
    summary = reproduce_table(demo_table, store, n_jobs=2, seeds=1)
    assert [o.status for o in summary.outcomes] == ["ran", "ran"]
    parallel = {o.job.group: store.load(o.job.group, 0)["metrics"] for o in summary.outcomes}
    serial = reproduce_table(demo_table, store, force=True, seeds=1)
    for outcome in serial.outcomes:
        assert store.load(outcome.job.group, 0)["metrics"] == parallel[outcome.job.group]


def test_check_skips_cells_whose_data_is_absent(fb_env, monkeypatch, tmp_path, demo_table):
    from fairbench.report.check import Verdict, check_table
    from fairbench.report.results import collect

    monkeypatch.setenv("FAIRBENCH_DATA", str(tmp_path / "empty"))
    monkeypatch.delenv("FAIRBENCH_MIRROR")
    summary = reproduce_table(demo_table, RecordStore(), seeds=1)
    assert {o.status for o in summary.outcomes} == {"missing-data"}
    results = collect(demo_table, RecordStore())
    assert all(r.status == "not-run" and "data not available" in r.reason for r in results.values())
    report = check_table(demo_table, results)
    cells = [finding for finding in report.findings if finding.subject != "records"]
    assert len(cells) == len(results) and all(f.verdict == Verdict.SKIPPED for f in cells)
    # nothing could be checked: the gate says so instead of passing
    assert not report.ok and [f.subject for f in report.with_verdict(Verdict.FAIL)] == ["records"]


def test_a_reused_record_of_an_older_fairbench_is_indexed_under_its_request(tmp_path):
    """Records written before records carried their request keep their run key; reusing one files it
    under its request, so render/check find it instead of showing the cell as not run."""
    from fairbench.core.hashing import request_hash
    from fairbench.runner.jobs import make_job
    from fairbench.runner.reproduce import pending_jobs

    store = RecordStore(tmp_path)
    job = make_job({"method": "ml", "dataset": "compas@flap", "task": "cf_discrete", "seed": 0})
    store.save(job.group, job.seed, {"key": {"group": job.group, "seed": 0}, "config": job.config, "metrics": {}})
    assert store.groups_for_request(request_hash(job.request)) == []  # the old layout: no index entry
    todo, reused = pending_jobs([job], store, force=False)
    assert todo == [] and reused == [job]
    assert store.groups_for_request(request_hash(job.request)) == [job.group]


def test_a_failure_note_is_filed_under_the_request_the_report_looks_up(tmp_path):
    """The resolved config adds the method's default task; the note must be found by the cell's request."""
    from fairbench.core.hashing import request_hash
    from fairbench.core.status import RunFailure, RunStatus
    from fairbench.runner.jobs import _fail

    store = RecordStore(tmp_path)
    job = make_job({"method": "ml", "dataset": "compas@flap", "seed": 0})  # no task: resolution adds it
    assert "task" in job.config and "task" not in job.request
    _fail(store, job, RunFailure(RunStatus.MISSING_DATA, "data not available", missing_data=("compas",)), 0.0)
    assert store.groups_for_request(request_hash(job.request)) == [job.group]
    assert store.failure(job.group).missing_data == ("compas",)


def test_a_shipped_package_names_the_drivers_commit(monkeypatch):
    """Ray workers of a remote cluster run a copy without git: the driver's commit comes in the environment."""
    from fairbench.core.provenance import git_commit

    monkeypatch.setenv("FAIRBENCH_CODE_VERSION", "abc123+dirty")
    assert git_commit() == "abc123+dirty"
    monkeypatch.delenv("FAIRBENCH_CODE_VERSION")
    assert git_commit() != "abc123+dirty"
