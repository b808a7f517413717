"""The reference retrain of an unlearning run is a dependency (task reference_unlearn): computed once per
(original model, deletion), shared by every method compared on it, and giving the distance to retraining
the run would have computed itself."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from fairbench.core.determinism import limited_threads
from fairbench.core.errors import FairbenchError
from fairbench.runner.artifacts import load_object
from fairbench.runner.jobs import make_job
from fairbench.runner.plan import plan_table, with_dependencies
from fairbench.runner.reproduce import run_with_dependencies
from fairbench.runner.tasks.unlearn import (
    UnlearnConfig, _check_same_deletion, _distance_to, _rows_digest, _unlearn_stream,
)
from fairbench.specs import load_table
from fairbench.store import RecordStore

MODEL = {"method": "fair_logreg", "params": {"l2": 1e-4, "penalty": "none", "sigma": 1.0}}
CELL = {"task": "unlearn", "dataset": "compas@fairunlearn", "model": MODEL,
        "protocol": {"name": "subgroup", "group": "minority", "fraction": 0.05}}


def _needs(job) -> dict:
    return dict(job.needs)


def test_cells_on_the_same_model_and_deletion_share_one_reference_job():
    newton, pru = make_job({**CELL, "method": "newton", "seed": 2}), make_job({**CELL, "method": "pru", "seed": 2})
    other_draw = make_job({**CELL, "method": "newton", "seed": 3})
    jobs = with_dependencies([newton, pru, other_draw])
    references = [job for job in jobs if job.config["task"] == "reference_unlearn"]
    assert len(references) == 2 and len([job for job in jobs if job.config["task"] == "train_base"]) == 1
    assert _needs(newton)["reference"].key == _needs(pru)["reference"].key != _needs(other_draw)["reference"].key
    assert all(jobs.index(_needs(job)["reference"]) < jobs.index(job) for job in (newton, pru, other_draw))
    # no reference job where there is nothing to compare with, or where the method is its own reference
    assert set(_needs(make_job({**CELL, "method": "newton", "reference": "none"}))) == {"original"}
    assert set(_needs(make_job({**CELL, "method": "retrain"}))) == {"original"}


def test_fig1_plans_one_reference_per_model_and_deletion():
    jobs = plan_table(load_table("fairunlearn:fig1")).jobs
    methods_by_reference = defaultdict(set)
    for job in jobs:
        if "reference" in _needs(job):
            methods_by_reference[_needs(job)["reference"].key].add(job.config["method"])
    references = [job for job in jobs if job.config["task"] == "reference_unlearn"]
    assert len(references) == len(methods_by_reference) == 150
    assert all({"full_training", "newton"} <= methods or {"full_training", "fair_unlearning"} <= methods
               for methods in methods_by_reference.values())


def test_distance_to_the_shared_reference_equals_the_in_task_retrain(fb_env):
    job = make_job({**CELL, "method": "newton", "seed": 2})
    outcomes = run_with_dependencies(job, RecordStore())
    assert [outcome.status for outcome in outcomes] == ["ran"] * 3, [outcome.message for outcome in outcomes]
    store = RecordStore()
    record = store.load(job.group, job.seed)
    original_job = _needs(job)["original"]
    original = load_object(store, original_job.group, original_job.seed,
                           store.load(original_job.group, original_job.seed), "model")
    # what the task computed before the reference was shared: the retrain in the same process (with the
    # one BLAS thread every job runs under, so the sums are the same)
    config = UnlearnConfig.parse(job.config)
    data = config.load_data()
    deletion = config.draw_deletion(data)
    forget, retain = data.train.subset(deletion.forget), data.train.subset(deletion.retain)
    seed = config.streams.seed("unlearner")
    with limited_threads(1):
        unlearner = config.method.build(random_state=seed)
        unlearner.prepare(original, data.train)
        unlearned = _unlearn_stream(unlearner, original, data.train, (deletion.forget,))[-1].model
        retrained = config.reference.build(random_state=seed).unlearn(original, forget, retain)
    assert record["metrics"]["l2_to_retrain"] == _distance_to(unlearned, retrained, data.test)["l2_to_retrain"] > 0
    reference_job = _needs(job)["reference"]
    shared = load_object(store, reference_job.group, reference_job.seed,
                         store.load(reference_job.group, reference_job.seed), "model")
    assert np.array_equal(shared.coef_, retrained.coef_)
    assert record["info"]["dependencies"]["reference"]["task"] == "reference_unlearn"


def test_a_reference_of_other_rows_is_refused():
    record = {"info": {"forget_sha256": _rows_digest(np.array([1, 2, 3]))}}
    _check_same_deletion(record, np.array([1, 2, 3]))
    with pytest.raises(FairbenchError, match="forgot other rows"):
        _check_same_deletion(record, np.array([1, 2, 4]))
