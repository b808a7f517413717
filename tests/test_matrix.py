"""The unlearning matrix (issue 17): compatibility read from the methods' declarations, a new unlearner file
appearing as a row, the grid's exclusions, the rankings and changes, the `fairbench matrix` → `check` cycle,
and the README block quoted from the committed tables."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from fairbench import matrix
from fairbench.catalog import PACKAGE, Catalog, catalog, parse_methods
from fairbench.core.errors import FairbenchError
from fairbench.report import matrix as report
from fairbench.specs import load_table

REPO = Path(__file__).resolve().parents[1]


def _row_ids(table) -> set[str]:
    return {row.id for row in table.rows}


def test_compatibility_comes_from_the_methods_declarations():
    grid = matrix.load_grid(REPO / "benchmarks")
    linear = matrix.build_table(grid, grid.family("logreg"), grid.protocol("uniform-5"))
    network = matrix.build_table(grid, grid.family("dnn"), grid.protocol("uniform-5"))
    for method in ("newton", "fair_unlearning", "pru", "retrain", "full_training"):
        assert f"german/{method}" in _row_ids(linear)
    for method in ("bt", "bs", "scrub", "puma", "f_unlearning", "cfdebias"):
        assert f"german/{method}" in _row_ids(network)
        assert f"german/{method}" not in _row_ids(linear)
    assert "german/retrain" in _row_ids(network)
    assert "german/newton" not in _row_ids(network)
    # SISA unlearns its own sharded ensemble: a row on that model, with the original ensemble beside it
    assert {"german/sisa@ensemble", "german/full_training@ensemble"} <= _row_ids(linear)
    cell = linear.cell("german/sisa@ensemble", "disagreement")
    assert cell.run["model"]["method"] == "sisa_ensemble" and cell.run["reference"] == "retrain"
    # the parameter distance exists only where the parameters are comparable
    assert linear.cell("german/sisa@ensemble", "l2").expect == "reported-only"
    assert linear.cell("german/newton", "l2").expect == "reproduce"
    assert "l2" not in {column.id for column in network.columns}  # no network or ensemble has comparable θ


TOY = '''
from __future__ import annotations

from ..base import MethodEntry, Unlearner
from ..registry import register_method


class Toy(Unlearner):
    def unlearn(self, model, forget, retain):
        return model


register_method(MethodEntry(name="toy_unlearner", kind="unlearner", factory=Toy, task="unlearn", version="1",
                            description="a toy", needs_model=("network",)))
register_method(MethodEntry(name="toy_any", kind="unlearner", factory=Toy, task="unlearn", version="1",
                            description="a toy for any model"))
'''


def test_a_new_unlearner_file_is_a_new_row(tmp_path, fb_env_no_data):
    """One new file under methods/unlearning and nothing else: its rows appear where its declaration fits."""
    methods = tmp_path / "methods"
    shutil.copytree(PACKAGE / "methods", methods, ignore=shutil.ignore_patterns("__pycache__"))
    (methods / "unlearning" / "toy_unlearner.py").write_text(TOY)
    known = Catalog(parse_methods(methods), catalog().tasks)
    grid = matrix.load_grid(REPO / "benchmarks")
    network = matrix.build_table(grid, grid.family("dnn"), grid.protocol("minority-5"), known)
    linear = matrix.build_table(grid, grid.family("logreg"), grid.protocol("minority-5"), known)
    assert {"german/toy_unlearner", "german/toy_any"} <= _row_ids(network)
    assert "german/toy_any" in _row_ids(linear) and "german/toy_unlearner" not in _row_ids(linear)
    assert network.cell("german/toy_unlearner", "kl").run["method"] == "toy_unlearner"

    from fairbench.report.render import render_markdown
    from fairbench.report.results import collect
    from fairbench.store import RecordStore

    text = render_markdown(network, collect(network, RecordStore(tmp_path / "results")))
    assert "| toy_unlearner" in text


def test_exclusions_are_declared_and_lifted_by_naming(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(TINY_GRID.replace("{families: [net], why: kept out of this test's default grid}",
                                      "{families: [lin], datasets: [german], methods: [pru], why: too slow}"))
    grid = matrix.read_grid(path)
    table = matrix.build_table(grid, grid.family("lin"), grid.protocol("u5"))
    excluded = table.cell("german/pru", "dp")
    assert excluded.expect == "reported-only" and "excluded from the default grid: too slow" in excluded.reason
    assert any("Excluded from the default grid (methods pru; datasets german; families lin)" in n for n in table.notes)
    default = matrix.default_cells(table, grid, None, None)
    assert default and not any(key[0] == "german/pru" for key in default)
    assert {key[0] for key in matrix.default_cells(table, grid, {"pru"}, None)} == {"german/pru"}
    assert any(key[0] == "german/pru" for key in matrix.default_cells(table, grid, None, {"german"}))


def test_matrix_tables_resolve_like_paper_tables():
    table = load_table("matrix:logreg-uniform-20")
    assert table.paper == "matrix" and table.cell("compas/newton", "accuracy").metric == "test_accuracy"
    with pytest.raises(FairbenchError, match="unknown table 'matrix:nope'"):
        load_table("matrix:nope")


def test_ranking_changes_and_time_ratio():
    grid = matrix.load_grid(REPO / "benchmarks")
    table = matrix.build_table(grid, grid.family("logreg"), grid.protocol("uniform-5"))
    values: dict[tuple[str, str], float | None] = {}
    for dataset, shift in (("german", 0.0), ("compas", 0.1)):
        for method, disagreement, mia, dp, seconds in (
            ("full_training", 0.30, 0.9, 0.20, 0.0), ("retrain", 0.0, 0.5, 0.10, 2.0),
            ("newton", 0.01, 0.55, 0.12, 0.2), ("pru", 0.05, 0.3, 0.25, 0.1),
        ):
            row = f"{dataset}/{method}"
            values.update({(row, "disagreement"): disagreement, (row, "mia"): mia, (row, "dp"): dp + shift,
                           (row, "time"): seconds, (row, "retrain_time"): 2.0})
    summaries = {s.label: s for s in report.summarize(table, grid, values)}
    assert summaries["retrain"].ranks["disagreement"] == (1.0, 0.0, 2)
    # forget MIA ranks by closeness to retraining's member rate: newton (0.05 away) before pru (0.2 away)
    assert summaries["newton"].ranks["mia"][0] < summaries["pru"].ranks["mia"][0]
    assert math.isclose(summaries["newton"].changes["dp"], 0.12 - 0.20)
    assert math.isclose(summaries["newton"].time_ratio, 0.1)
    assert "time" in summaries["pru"].ranks and summaries["pru"].ranks["time"][0] == 2.0  # 0 s (original) first
    assert report._average_ranks({"a": 1.0, "b": 1.0, "c": 3.0}) == {"a": 1.5, "b": 1.5, "c": 3.0}
    assert report._pareto_front([(0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]) == [0, 1]
    assert report._coinciding([0.0, 0.001, 1.0], [0.0, 0.0, 1.0], ["a", "b", "c"]) == [((0.0, 0.0), ["a", "b"]),
                                                                                        ((1.0, 1.0), ["c"])]


TINY_GRID = """
title: Tiny matrix
original: full_training
reference: retrain
seeds: 2
metrics: [test_accuracy, demographic_parity_difference_abs, equal_opportunity_difference_abs, mia_threshold_confidence_member_rate]
families:
  - id: lin
    label: Logistic regression
    models:
      convex: {method: fair_logreg, params: {l2: 1.0e-4}}
      ensemble: {method: sisa_ensemble, params: {shards: 3, learner: fair_logreg, l2: 1.0e-4}}
    datasets: [german]
  - id: net
    label: DNN
    models:
      network: {method: dnn, params: {hidden: [8], epochs: 1}}
    datasets: [german]
protocols:
  - {id: u5, label: uniform 5 %, protocol: {name: uniform, fraction: 0.05}}
criteria:
  - {id: l2, label: l2, metric: l2_to_retrain, better: lower, models: [convex], why_not: not comparable}
  - {id: disagreement, label: disagreement, metric: disagreement_to_retrain, better: lower}
  - {id: mia, label: MIA, metric: mia_threshold_confidence_member_rate, better: reference}
  - {id: dp, label: DP gap, metric: demographic_parity_difference_abs, better: lower, change: true}
  - {id: time, label: unlearn s, metric: unlearn_seconds, better: lower, per: retrain_time}
  - {id: retrain_time, label: retrain s, metric: reference_seconds}
pareto: {x: disagreement, y: dp, size: time}
exclude:
  - {families: [net], why: kept out of this test's default grid}
"""


@pytest.mark.needs_data("german")
def test_matrix_runs_renders_and_passes_its_check(fb_env, cli, monkeypatch):
    benchmarks = fb_env / "benchmarks"
    benchmarks.mkdir()
    (benchmarks / "matrix.yaml").write_text(TINY_GRID)
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(benchmarks))
    out = fb_env / "committed"
    readme = fb_env / "README.md"
    readme.write_text(f"# x\n\n{report.README_BEGIN}\nold\n{report.README_END}\n\nafter\n")

    code, output, err = cli("matrix", "--jobs", "1", "--out", str(out), "--readme", str(readme))
    assert code == 0, (output, err)
    folder = out / "matrix"
    assert {"lin-u5.csv", "lin-u5.md", "net-u5.md", "README.md", "pareto-u5.png"} <= {p.name for p in folder.iterdir()}
    rendered = (folder / "lin-u5.md").read_text()
    assert "Provenance: datasets german; seeds 0, 1" in rendered
    assert "Excluded from the default grid (families net): kept out of this test's default grid" in (
        folder / "net-u5.md").read_text()
    assert "### Logistic regression" in (folder / "README.md").read_text()

    # the README block quotes the committed CSVs: regenerating it from them gives the same text
    grid = matrix.load_grid(benchmarks)
    block = report.readme_block(readme.read_text())
    assert block == report.readme_section(grid, out, matrix.tables(benchmarks))
    assert readme.read_text().endswith("after\n") and "old" not in block
    values = report.values_from_csv(out, load_table("matrix:lin-u5"))
    best = report.summarize(load_table("matrix:lin-u5"), grid, values)
    assert np.isfinite(values[("german/newton", "disagreement")])
    assert any(s.label in block for s in best)

    # the committed CSVs are the regression baseline of `check` (net-u5, excluded whole, has no records)
    code, output, err = cli("check", "matrix:lin-u5", "--baseline", str(out))
    assert code == 0, (output, err)
    assert "matrix:lin-u5: 26 ok, 0 failing" in output


def test_matrix_user_errors_are_one_line(cli, fb_env_no_data):
    for args, message in ((["matrix", "--protocols", "nope"], "the matrix has no protocol nope"),
                          (["matrix", "--methods", "nope"], "the matrix has no method nope"),
                          (["matrix", "--seeds", "0"], "--seeds must be at least 1")):
        code, out, err = cli(*args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (out, err)


def test_malformed_grid_is_refused(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(TINY_GRID.replace("better: reference", "better: sideways"))
    with pytest.raises(FairbenchError, match="better must be one of"):
        matrix.read_grid(path)
    path.write_text(TINY_GRID.replace(", why_not: not comparable", ""))
    with pytest.raises(FairbenchError, match="say why it is undefined elsewhere"):
        matrix.read_grid(path)


def test_readme_block_is_generated_from_the_committed_matrix():
    """README's "Which unlearning method?" numbers are quoted from tables/matrix, never typed in."""
    grid = matrix.load_grid(REPO / "benchmarks")
    text = (REPO / "README.md").read_text()
    assert report.readme_block(text) == report.readme_section(grid, REPO / "tables", matrix.tables(REPO / "benchmarks"))


def test_prediction_distances():
    from fairbench.metrics.unlearning import disagreement_to_retrain, kl_to_retrain

    assert disagreement_to_retrain(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])) == 0.25
    same = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert kl_to_retrain(same, same) == 0.0
    other = np.array([[0.5, 0.5], [0.5, 0.5]])
    expected = np.mean([0.2 * np.log(0.2 / 0.5) + 0.8 * np.log(0.8 / 0.5), 0.6 * np.log(0.6 / 0.5) + 0.4 * np.log(0.4 / 0.5)])
    assert math.isclose(kl_to_retrain(other, same), expected)
