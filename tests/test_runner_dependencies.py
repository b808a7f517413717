"""Explicit dependencies (issue 10): the planner adds each needed job once and first, executors start a
job only after the jobs it needs, and a failed dependency fails its dependants with its own status."""

from __future__ import annotations

import pytest

from fairbench.core.errors import FairbenchError
from fairbench.core.status import RunStatus
from fairbench.runner.executor import DependencyGate
from fairbench.runner.jobs import make_job
from fairbench.runner.plan import with_dependencies
from fairbench.runner.reproduce import run_with_dependencies
from fairbench.store import RecordStore

UNLEARN = {"task": "unlearn", "method": "newton", "dataset": "compas@fairunlearn",
           "model": {"method": "fair_logreg", "params": {"penalty": "none", "sigma": 1.0}},
           "protocol": {"name": "uniform", "fraction": 0.05}}


def test_cells_sharing_an_original_model_plan_it_once_and_first():
    jobs = [make_job({**UNLEARN, "method": method, "seed": seed}) for method in ("newton", "retrain") for seed in (0, 1)]
    ordered = with_dependencies(jobs)
    # redraw: [] holds split and init; each newton draw needs its reference retrain, retrain is its own
    assert [job.config["task"] for job in ordered] == ["train_base"] + ["reference_unlearn", "unlearn"] * 2 + ["unlearn"] * 2
    assert {dep.key for job in ordered for name, dep in job.needs if name == "original"} == {ordered[0].key}


def test_the_gate_releases_a_dependant_only_after_its_dependency_finished():
    job = make_job(UNLEARN)
    (_, original), (_, reference) = job.needs
    gate = DependencyGate(with_dependencies([job]))
    assert gate.ready() == [original]
    assert gate.ready() == []
    gate.finished(original)
    assert gate.ready() == [reference]  # the reference retrain starts from the original model too
    gate.finished(reference)
    assert gate.ready() == [job]


def test_a_failed_dependency_fails_its_dependant_with_its_status(fb_env, monkeypatch, tmp_path):
    monkeypatch.setenv("FAIRBENCH_DATA", str(tmp_path / "empty"))
    monkeypatch.delenv("FAIRBENCH_MIRROR")
    job = make_job(UNLEARN)
    original, reference, dependant = run_with_dependencies(job, RecordStore())
    assert reference.status is RunStatus.MISSING_DATA
    assert original.status is RunStatus.MISSING_DATA and original.failure.missing_data == ("compas",)
    assert dependant.job == job and dependant.status is RunStatus.MISSING_DATA
    assert dependant.failure.missing_data == ("compas",) and "needs fair_logreg on compas@fairunlearn" in dependant.message
    stored = RecordStore().failure(job.group)
    assert stored.status is RunStatus.MISSING_DATA and stored.extra["dependency"]["name"] == "original"


def test_sisa_shard_parameters_are_checked_against_the_shard_learner():
    sharded = {**UNLEARN, "method": "sisa", "reference": "none",
               "model": {"method": "sisa_ensemble", "params": {"learner": "dnn", "epochs": 2, "hiden": [8]}}}
    with pytest.raises(FairbenchError, match=r"^model\.params\.hiden: method 'dnn' takes no such parameter"):
        make_job(sharded)
