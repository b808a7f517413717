"""fairunlearn plumbing: the unlearn task on COMPAS, the claim language, plots, and the table specs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fairbench.core.errors import FairbenchError
from fairbench.report.claims import check_claims, render_claims_markdown
from fairbench.report.plots import plot_table
from fairbench.report.results import CellResult
from fairbench.runner.jobs import make_job, run_job
from fairbench.runner.reproduce import run_with_dependencies
from fairbench.runner.plan import plan_table
from fairbench.specs import load_spec, load_table, spec_paths
from fairbench.store import RecordStore

FAIR = {"method": "fair_logreg", "params": {"l2": 1e-4, "gamma": 30.0, "sigma": 1.0}}


def _run(config: dict) -> dict:
    job = make_job({"task": "unlearn", "dataset": "compas@fairunlearn", "model": FAIR, **config})
    outcome = run_with_dependencies(job, RecordStore())[-1]
    assert outcome.job == job and outcome.status == "ran", outcome.message
    return RecordStore().load(job.group, job.seed), job


def test_unlearn_task_records_fairness_distance_timings_and_forget_set(fb_env):
    record, job = _run({"method": "fair_unlearning", "protocol": {"name": "uniform", "fraction": 0.05}, "seed": 1})
    metrics = record["metrics"]
    for name in ("test_accuracy", "average_abs_odds_difference", "demographic_parity_difference",
                 "equal_opportunity_difference", "subgroup_accuracy_0", "subgroup_accuracy_1", "unlearn_seconds",
                 "precompute_seconds", "reference_seconds", "train_seconds", "unlearn_peak_mb"):
        assert name in metrics and math.isfinite(metrics[name]), name
    assert metrics["n_forget"] == round(0.05 * 4222)
    assert metrics["l2_to_retrain"] < 0.05
    assert metrics["grad_residual"] < 0.05 * metrics["grad_residual_original"]
    forget = RecordStore().load_array(job.group, job.seed, "forget")
    assert len(forget) == metrics["n_forget"] and np.all(np.diff(forget) > 0)
    assert record["info"]["split_seed"] == 0 and record["info"]["deletion"]["seed"] == 1


def test_repeats_share_one_original_model_unless_redrawn(fb_env):
    a, _ = _run({"method": "full_training", "protocol": {"name": "uniform", "fraction": 0.01}, "seed": 0,
                 "reference": "none"})
    b, _ = _run({"method": "full_training", "protocol": {"name": "uniform", "fraction": 0.01}, "seed": 3,
                 "reference": "none"})
    c, _ = _run({"method": "full_training", "protocol": {"name": "uniform", "fraction": 0.01}, "seed": 3,
                 "reference": "none", "redraw": ["noise"]})
    assert a["info"]["original"] == b["info"]["original"]
    assert c["info"]["original"]["group"] != a["info"]["original"]["group"]
    assert a["metrics"]["test_accuracy"] == b["metrics"]["test_accuracy"]  # the model is not touched
    assert len(list((Path(fb_env) / "results" / "runs").iterdir())) == 4  # 2 originals + 2 unlearn cells


def test_same_seed_gives_the_same_numbers(fb_env):
    config = {"method": "newton", "protocol": {"name": "subgroup", "group": "minority", "fraction": 0.05}, "seed": 2,
              "model": {"method": "fair_logreg", "params": {"l2": 1e-4, "penalty": "none", "sigma": 1.0}}}
    first, job = _run(config)
    run_job(job)  # overwrite with a fresh run
    second = RecordStore().load(job.group, job.seed)
    for name in ("average_abs_odds_difference", "l2_to_retrain", "test_accuracy", "grad_residual"):
        assert first["metrics"][name] == second["metrics"][name]
    assert second["info"]["deletion"]["group_selected_as"] == "minority"


def test_protocol_size_gives_exactly_m_rows_and_leakage_is_recorded(fb_env):
    record, _ = _run({"method": "fair_unlearning", "protocol": {"name": "uniform", "size": 100}, "seed": 0,
                      "leakage": {"delta": 1e-4}})
    metrics = record["metrics"]
    assert metrics["n_forget"] == 100
    assert metrics["epsilon"] == min(metrics["epsilon_data_dependent"], metrics["epsilon_worst_case_reconstructed"])
    assert metrics["grad_residual"] <= metrics["eps_prime_data_dependent"]


def test_bad_unlearn_configs_are_user_errors(fb_env):
    with pytest.raises(FairbenchError, match="bogus: task 'unlearn' takes no such key; accepted: params, model"):
        make_job({"task": "unlearn", "method": "newton", "dataset": "compas@fairunlearn", "bogus": 1})
    with pytest.raises(FairbenchError, match="redraw: .*everything.*accepted: split, noise"):
        make_job({"task": "unlearn", "method": "newton", "dataset": "compas@fairunlearn", "model": FAIR,
                  "protocol": {"name": "uniform", "fraction": 0.05}, "redraw": ["everything"]})


def test_base_model_and_reference_are_checked_and_key_the_run(fb_env, monkeypatch):
    import dataclasses

    from fairbench.methods import METHODS

    config = {"task": "unlearn", "method": "newton", "dataset": "compas@fairunlearn", "model": FAIR,
              "protocol": {"name": "uniform", "fraction": 0.05}}
    with pytest.raises(FairbenchError, match="unknown method 'vgg16'"):
        make_job({**config, "model": {"method": "vgg16"}})
    with pytest.raises(FairbenchError, match="unknown method 'oracle'"):
        make_job({**config, "reference": "oracle"})
    before = make_job(config).group
    assert make_job({**config, "reference": "none"}).group != before
    for component in ("fair_logreg", "retrain"):  # the base model's learner and the default reference
        entry = METHODS.get(component)
        with monkeypatch.context() as patch:
            patch.setitem(METHODS._entries, component, dataclasses.replace(entry, version=entry.version + "-changed"))
            assert make_job(config).group != before
    assert make_job(config).group == before
    sharded = {**config, "method": "sisa", "model": {"method": "sisa_ensemble", "params": {"learner": "dnn"}}}
    before = make_job(sharded).group
    entry = METHODS.get("dnn")
    with monkeypatch.context() as patch:  # the shards' learner keys the run too
        patch.setitem(METHODS._entries, "dnn", dataclasses.replace(entry, version=entry.version + "-changed"))
        assert make_job(sharded).group != before


# ---------------------------------------------------------------- claims and plots on a toy table

TOY = """
paper: toy
table: t1
title: toy
rows:
  - {id: a, label: A, metric: score, style: [solid]}
  - {id: b, label: B, metric: score}
columns:
  - group: G1
    items:
      - {id: g1-1, label: "1", run: {method: x, protocol: {fraction: 0.01}}}
      - {id: g1-2, label: "2", run: {method: x, protocol: {fraction: 0.02}}}
  - group: G2
    items:
      - {id: g2-1, label: "1", run: {method: x, protocol: {fraction: 0.01}}}
plot:
  x: {key: protocol.fraction, percent: true}
  styles: {solid: {linestyle: "-"}}
claims:
  - {id: close, statement: a tracks b, relation: "abs(v('a') - v('b')) <= tol", params: {tol: 0.1}}
  - {id: below, statement: a below b, relation: "v('a') < v('b')"}
  - {id: grows, statement: a grows, scope: group, columns: {groups: [G1]}, relation: "nondecreasing(vals('a'))"}
  - {id: known, statement: b grows, scope: table, relation: "vals('b')[-1] > vals('b')[0]", expect: "fails: b shrinks here"}
  - {id: other, statement: per-seed metric, relation: "all(x < 1 for x in ms('a', 'extra'))"}
"""


def _toy(tmp_path: Path, values: dict[tuple[str, str], list[float] | None]):
    path = tmp_path / "t1.yaml"
    path.write_text(TOY)
    table = load_spec(path)
    results = {}
    for key, cell in table.cells.items():
        seeds = values.get(key)
        if seeds is None:
            results[key] = CellResult(cell, "not-run")
            continue
        records = [{"metrics": {"score": v, "extra": v / 2}} for v in seeds]
        results[key] = CellResult(cell, "no-reference", float(np.mean(seeds)),
                                  float(np.std(seeds, ddof=1)) if len(seeds) > 1 else None, len(seeds), records=records)
    return table, results


def test_claims_hold_fail_and_skip_missing_cells(tmp_path):
    values = {("a", "g1-1"): [0.1, 0.2], ("a", "g1-2"): [0.3, 0.3], ("b", "g1-1"): [0.2, 0.2],
              ("b", "g1-2"): [0.25, 0.25], ("a", "g2-1"): [0.5], ("b", "g2-1"): None}
    table, results = _toy(tmp_path, values)
    claims = {c.id: c for c in check_claims(table.path, results)}
    assert claims["close"].status == "partial" and claims["close"].evaluated == 2  # g2-1 not evaluable
    assert claims["below"].status == "fails" and claims["below"].failing
    failed = [s for s in claims["below"].scopes if s.outcome is False]
    assert [s.scope for s in failed] == ["g1-2"] and failed[0].values == {"a/g1-2": 0.3, "b/g1-2": 0.25}
    assert claims["grows"].status == "holds"
    assert claims["known"].status == "not-evaluable"  # the table scope needs b/g2-1
    assert claims["other"].status == "holds"
    assert "below" in render_claims_markdown(list(claims.values()))


def test_expected_failure_is_not_failing(tmp_path):
    values = {key: [1.0] for key in [("a", "g1-1"), ("a", "g1-2"), ("a", "g2-1")]}
    values.update({("b", "g1-1"): [0.9], ("b", "g1-2"): [0.5], ("b", "g2-1"): [0.1]})
    table, results = _toy(tmp_path, values)
    known = next(c for c in check_claims(table.path, results) if c.id == "known")
    assert known.status == "fails" and known.expect == "fails" and not known.failing


@pytest.mark.parametrize("relation,message", [
    ("v('a').real > 0", "not allowed"),
    ("__import__('os')", "'_'"),
    ("v('a') +", "not a valid expression"),
    ("v('a')", "true/false"),
    ("v('nope') < 1", "not in the table"),
])
def test_bad_relations_are_spec_errors(tmp_path, relation, message):
    path = tmp_path / "bad.yaml"
    path.write_text(TOY.split("claims:")[0] + f'claims:\n  - {{id: x, statement: s, relation: "{relation}"}}\n')
    table, results = _toy(tmp_path, {})
    results = {key: CellResult(cell, "no-reference", 0.5, None, 1, records=[{"metrics": {"score": 0.5}}])
               for key, cell in load_spec(path).cells.items()}
    with pytest.raises(FairbenchError, match=message):
        check_claims(path, results)


def test_plot_writes_png_and_pdf_from_results_only(tmp_path):
    values = {("a", "g1-1"): [0.1, 0.2], ("a", "g1-2"): [0.3, 0.3], ("b", "g1-1"): [0.2, 0.2]}
    table, results = _toy(tmp_path, values)
    written = plot_table(table, results, tmp_path / "out")
    assert [p.suffix for p in written] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in written)


def test_every_fairunlearn_spec_plans_and_its_claims_parse():
    refs = [ref for ref in spec_paths() if ref.startswith("fairunlearn:")]
    assert {"fairunlearn:fig1", "fairunlearn:fig2", "fairunlearn:fig3", "fairunlearn:fig_a10", "fairunlearn:table2",
            "fairunlearn:table3", "fairunlearn:table4", "fairunlearn:a9"} <= set(refs)
    for ref in refs:
        table = load_table(ref)
        plan = plan_table(table, seeds=1)
        assert not plan.skipped, (ref, plan.skipped)
        empty = {key: CellResult(cell, "not-run") for key, cell in table.cells.items()}
        claims = check_claims(table.path, empty)
        assert all(c.status == "not-evaluable" for c in claims)
