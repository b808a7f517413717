"""Typed run configurations (issue 10): every configuration error is one line naming the key and what
it accepts, raised when the job is made — before any data is loaded or anything is trained."""

from __future__ import annotations

import time

import pytest

from fairbench.core.errors import FairbenchError
from fairbench.core.status import RunStatus
from fairbench.runner.jobs import make_job
from fairbench.runner.plan import plan_table
from fairbench.specs import load_table

UNLEARN = {"task": "unlearn", "method": "bt", "dataset": "german@cfdebias",
           "model": {"method": "dnn", "params": {"epochs": 2}}, "protocol": {"name": "uniform", "fraction": 0.1}}


@pytest.fixture()
def nothing_loads_or_trains(monkeypatch):
    """Loading data or fitting a model fails the test: the checks must come before both."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a configuration check loaded data or trained")

    for target in ("fairbench.datasets.load_dataset", "fairbench.runner.tasks.config.load_dataset",
                   "fairbench.methods._fitting.fit_on"):
        monkeypatch.setattr(target, forbidden)


@pytest.mark.parametrize("change, message", [
    ({"protocol": {"name": "uniform", "fraction": 0.1, "fractoin": 0.2}},
     r"^protocol\.fractoin: protocol 'uniform' takes no such parameter; accepted: fraction, size$"),
    ({"protocol": {"name": "subgroup", "fraction": 0.1}}, r"^protocol\.group: protocol 'subgroup' needs it; accepted: group"),
    ({"protocol": {"name": "uniform", "fraction": 1.5}}, r"^protocol\.fraction: .*1\.5"),
    ({"protocol": {"name": "unifrom"}}, r"^protocol\.name: unknown protocol 'unifrom'; accepted: .*uniform"),
    ({"params": {"epochs": "abc"}}, r"^params\.epochs: 'abc' is not of type int; accepted: a value of type int$"),
    ({"params": {"epoch": 3}}, r"^params\.epoch: method 'bt' takes no such parameter; accepted: retain_share, "),
    ({"model": {"method": "dnn", "params": {"hiden": [8]}}}, r"^model\.params\.hiden: method 'dnn' takes no such"),
    ({"model": {"method": "bt"}}, r"^model: 'bt' is a unlearner; accepted: a learner$"),
    ({"metrics": ["retain_acc"]}, r"^metrics: unknown metric 'retain_acc'; accepted: .*retain_accuracy"),
    ({"metrics": ["cf_metric"]}, r"^metrics: task 'unlearn' cannot give metric 'cf_metric' its predict, quantile_map"),
    ({"dataset": "german@nope"}, r"unknown variant 'nope' of dataset 'german'; known: "),
    ({"redraw": ["splits"]}, r"^redraw: .*accepted: split, noise$"),
    ({"reference": "newton", "leakage": {"dleta": 1}}, r"^leakage\.dleta: unknown key; accepted: delta$"),
    ({"seed": "0"}, r"^seed: expected a non-negative integer"),
])
def test_an_unlearn_config_error_is_refused_before_anything_runs(nothing_loads_or_trains, change, message):
    with pytest.raises(FairbenchError, match=message):
        make_job({**UNLEARN, **change})


def test_a_good_unlearn_config_plans_its_base_model_without_running_it(nothing_loads_or_trains):
    job = make_job(UNLEARN)
    (name, original), (reference_name, reference) = job.needs
    assert name == "original" and original.config["task"] == "train_base"
    assert reference_name == "reference" and reference.config["task"] == "reference_unlearn"
    assert dict(reference.needs)["original"].key == original.key
    assert original.config["params"] == {"epochs": 2, "random_state": 0}  # the init stream, held at 0


def test_other_tasks_check_their_keys_too(nothing_loads_or_trains):
    with pytest.raises(FairbenchError, match=r"^metrics: task 'cf_discrete' cannot give metric 'retain_accuracy' its retain split"):
        make_job({"method": "ml", "dataset": "compas@flap", "metrics": ["retain_accuracy"]})
    with pytest.raises(FairbenchError, match=r"^k: expected a positive integer, got 0"):
        make_job({"method": "mf", "dataset": "coat", "k": 0})
    with pytest.raises(FairbenchError, match=r"^evaluation\.counterfactuals: expected a positive integer"):
        make_job({"method": "ob", "dataset": "crime", "evaluation": {"counterfactuals": 0}})


def test_a_table_with_a_misconfigured_cell_is_refused_and_unimplemented_methods_are_skipped(tmp_path, monkeypatch):
    spec = """
paper: demo
table: bad
title: a spec with one misconfigured cell
source: test
defaults: {run: {task: unlearn, dataset: german@cfdebias, model: {method: dnn}, protocol: {name: uniform, fraction: 0.1}}}
rows:
  - {id: a, run: {method: bt}}
  - {id: b, run: {method: not_a_method}}
columns:
  - {id: c, metric: retain_accuracy}
cells: {}
"""
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "bad.yaml").write_text(spec)
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(tmp_path))
    plan = plan_table(load_table("demo:bad"), seeds=1)
    failure = plan.skipped[("b", "c")]
    assert failure.status is RunStatus.NOT_IMPLEMENTED and failure.missing_methods == ("not_a_method",)
    assert [job.config["task"] for job in plan.jobs] == ["train_base", "reference_unlearn", "unlearn"]  # dependencies first

    (tmp_path / "demo" / "bad.yaml").write_text(spec.replace("fraction: 0.1}", "fraction: 0.1, size: 3}"))
    with pytest.raises(FairbenchError, match=r"^demo:bad cell a/c: protocol\.size: size replaces a fraction"):
        plan_table(load_table("demo:bad"), seeds=1)


def test_cli_refuses_a_bad_parameter_in_under_two_seconds(fb_env, cli):
    """``--set epochs=abc`` for an int parameter: exit 2, one line naming the key, nothing trained or
    stored. Timed in process (the registries are imported once per session; a fresh process adds the
    import of torch by the method registry, about 3 s of CPU on this machine)."""
    start = time.perf_counter()
    code, out, err = cli("run", "--method", "bt", "--dataset", "german@cfdebias", "--protocol", "uniform",
                         "--fraction", "0.1", "--set", "epochs=abc", "--set", "model.method=dnn")
    assert time.perf_counter() - start < 2
    assert code == 2
    assert err.strip().splitlines() == ["error: params.epochs: 'abc' is not of type int; accepted: a value of type int"]
    assert not (fb_env / "results").exists()


def test_every_constructor_parameter_is_seen_by_the_typed_config_and_random_state_is_passed():
    """Parameters a constructor forwards to its base (``**base``: the recommenders' shared defaults and
    random_state) are checked and passed like its own; a method that takes random_state always gets the
    run's stream, never None (which would mean fresh OS entropy: a run that cannot be repeated)."""
    from fairbench.methods import METHODS
    from fairbench.runner.tasks.config import MethodSpec

    for name, entry in METHODS.items():
        spec = MethodSpec.parse(name, {})
        own = set(entry.factory().get_params(deep=False))
        assert own <= set(spec.accepted) or spec.open_ended, (name, sorted(own - set(spec.accepted)))
        if "random_state" in own:
            assert spec.build(random_state=1234).random_state == 1234, name
