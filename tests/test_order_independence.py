"""Acceptance 4 of issue 10: a job's numbers do not depend on what ran before it in the same process,
nor on the executor (--jobs 1 vs --jobs 2), for every unlearner that uses torch.

German (cfdebias variant, 800 training rows) with a tiny DNN and one-epoch schedules, so each run
takes well under a second. Before the second, reversed pass, torch's and NumPy's global generators
are stirred and the per-job global seeding is switched off: a method that still drew from global
state would give other numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fairbench.runner.executor import ProcessExecutor, SerialExecutor
from fairbench.runner.jobs import make_job
from fairbench.runner.plan import with_dependencies
from fairbench.store import RecordStore

DNN = {"method": "dnn", "params": {"hidden": [8], "epochs": 2, "fairness_penalty": "eo", "fairness_weight": 1.0}}
UNLEARNERS = {
    "bt": ({"epochs": 1}, DNN),
    "bs": ({"epochs": 1}, DNN),
    "scrub": ({"epochs": 1, "msteps": 1}, DNN),
    "puma": ({"cg_iterations": 5, "hessian_rows": 256}, DNN),
    "cfdebias": ({"epochs": 1, "vae": {"hidden": [16], "epochs": 1, "min_steps": 10}}, DNN),
    "sisa": ({}, {"method": "sisa_ensemble", "params": {"shards": 2, "learner": "dnn", "hidden": [8], "epochs": 2}}),
}


def _jobs(seed: int = 1):
    return [make_job({"task": "unlearn", "method": name, "params": params, "model": model,
                      "dataset": "german@cfdebias", "protocol": {"name": "uniform", "fraction": 0.1},
                      "redraw": ["split", "noise"], "reference": "none", "seed": seed,
                      "metrics": ["retain_accuracy", "forget_accuracy", "test_accuracy", "disparate_impact"]})
            for name, (params, model) in UNLEARNERS.items()]


def _metrics(executor, jobs, root) -> dict[str, dict[str, float]]:
    outcomes = list(executor.map(with_dependencies(jobs), root))
    assert all(o.status == "ran" for o in outcomes), [(o.job.label, o.message) for o in outcomes if o.status != "ran"]
    store = RecordStore(root)
    return {job.config["method"]: {k: v for k, v in store.load(job.group, job.seed)["metrics"].items()
                                   if not k.endswith("seconds") and "peak" not in k}
            for job in jobs}


@pytest.mark.slow
def test_unlearners_give_the_same_numbers_in_any_order_and_under_any_executor(fb_env, monkeypatch):
    jobs = _jobs()
    first = _metrics(SerialExecutor(), jobs, fb_env / "first")

    with monkeypatch.context() as patch:
        torch.rand(17)  # stir the global generators and stop reseeding them per job
        np.random.rand(5)
        patch.setattr("fairbench.runner.jobs.seed_everything", lambda seed: None)
        reversed_order = _metrics(SerialExecutor(), list(reversed(jobs)), fb_env / "reversed")
    assert reversed_order == first

    parallel = _metrics(ProcessExecutor(2), jobs, fb_env / "parallel")
    assert parallel == first
    assert set(first) == set(UNLEARNERS)
