"""The method registry is read through: a job imports the modules of the methods it names, and only those.

Each check runs in a fresh interpreter (nothing imported by other tests): a fair logistic regression
unlearned by Newton's step loads neither torch nor any other method; a torch method's job, in a process
where torch was not loaded before it, still runs with the job's torch seed and deterministic kernels.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from fairbench.catalog import catalog

REPO = Path(__file__).resolve().parents[1]

UNLEARN = {"task": "unlearn", "method": "newton", "dataset": "compas@fairunlearn",
           "model": {"method": "fair_logreg", "params": {"penalty": "none", "sigma": 1.0}},
           "protocol": {"name": "uniform", "fraction": 0.05}, "seed": 0}
TRAIN_DNN = {"task": "train_base", "method": "dnn", "dataset": "compas@fairunlearn",
             "params": {"hidden": [8], "epochs": 1}, "seed": 4}


def _in_fresh_process(script: str) -> dict:
    """Run ``script`` (which prints one JSON object last) in a new interpreter; its parsed output."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_newton_unlearning_job_of_a_fair_logistic_regression_imports_no_torch_and_no_other_method(fb_env):
    seen = _in_fresh_process(f"""
        import json, sys
        from fairbench.runner.jobs import make_job
        from fairbench.runner.reproduce import run_with_dependencies
        from fairbench.store import RecordStore

        outcomes = run_with_dependencies(make_job({UNLEARN!r}), RecordStore())
        modules = sorted(name for name in sys.modules if name.startswith("fairbench.methods."))
        print(json.dumps({{"statuses": [o.status.value for o in outcomes], "torch": "torch" in sys.modules,
                          "modules": modules}}))
    """)
    assert seen["statuses"] == ["ran"] * 3  # the original model, the reference retrain, the unlearning run
    assert not seen["torch"]
    registering = {info.module for info in catalog().methods.values()}
    loaded = registering & set(seen["modules"])
    named = {catalog().methods[name].module for name in ("newton", "fair_logreg", "retrain")}
    assert named <= loaded and loaded <= named | {catalog().methods["full_training"].module}, loaded


def test_a_torch_method_job_gets_its_seed_and_deterministic_kernels_where_torch_was_not_loaded_before(fb_env):
    # the runner's thread block wraps the task's code: what torch looks like when the job's code starts
    seen = _in_fresh_process(f"""
        import contextlib, json, sys
        import fairbench.runner.jobs as jobs
        from fairbench.runner.reproduce import run_with_dependencies
        from fairbench.store import RecordStore

        assert "torch" not in sys.modules
        observed = {{}}
        runner_threads = jobs.limited_threads

        @contextlib.contextmanager
        def observing(count):
            torch = sys.modules["torch"]
            observed.update(deterministic=torch.are_deterministic_algorithms_enabled(), seed=torch.initial_seed())
            with runner_threads(count):
                yield

        jobs.limited_threads = observing
        outcomes = run_with_dependencies(jobs.make_job({TRAIN_DNN!r}), RecordStore())
        print(json.dumps({{"statuses": [o.status.value for o in outcomes], **observed}}))
    """)
    assert seen == {"statuses": ["ran"], "deterministic": True, "seed": TRAIN_DNN["seed"]}


def test_torch_loaded_during_a_job_after_its_seeding_is_guarded_where_a_method_starts_torch_work():
    seen = _in_fresh_process("""
        import json, sys
        from fairbench.core.determinism import seed_everything
        from fairbench.methods._threads import limited_threads

        seed_everything(11)  # as the runner does, before torch is loaded
        import torch

        before = torch.are_deterministic_algorithms_enabled()
        with limited_threads():
            inside = (torch.are_deterministic_algorithms_enabled(), torch.initial_seed())
        torch.manual_seed(3)
        with limited_threads():  # once per job: a method's later torch work does not reseed
            again = torch.initial_seed()
        print(json.dumps({"before": before, "inside": inside, "again": again}))
    """)
    assert seen == {"before": False, "inside": [True, 11], "again": 3}


def test_the_method_registry_imports_a_method_module_only_when_its_method_is_asked_for():
    seen = _in_fresh_process("""
        import json, sys
        from fairbench.methods import METHODS

        listed = METHODS.names()
        known = "dnn" in METHODS and "nosuch" not in METHODS
        torch = "torch" in sys.modules
        before = sorted(name for name in sys.modules if name.startswith("fairbench.methods."))
        METHODS.get("logreg")
        after = sorted(name for name in sys.modules if name.startswith("fairbench.methods."))
        everything = [name for name, _ in METHODS.items()]
        print(json.dumps({"listed": listed, "known": known, "torch": torch, "before": before,
                          "after": after, "everything": everything}))
    """)
    assert seen["listed"] == seen["everything"] == sorted(catalog().methods)
    assert seen["known"] and not seen["torch"]
    assert not set(seen["before"]) & {info.module for info in catalog().methods.values()}
    assert set(seen["after"]) - set(seen["before"]) == {"fairbench.methods.learners", catalog().methods["logreg"].module}


def test_each_method_is_registered_by_importing_the_module_the_catalog_names():
    seen = _in_fresh_process("""
        import importlib, json
        from fairbench.catalog import catalog
        from fairbench.methods import METHODS

        missing = []
        for name, info in catalog().methods.items():
            importlib.import_module(info.module)
            if name not in dict(METHODS.loaded()):
                missing.append(f"{name} ({info.module})")
        print(json.dumps({"missing": missing}))
    """)
    assert seen == {"missing": []}
