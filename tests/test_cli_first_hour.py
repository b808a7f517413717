"""What a new user meets first: ``run`` picks the task the tables use, missing data is one line with
the fix, ``reproduce`` says what did not run and exits 3, ``list`` shows measured availability and reads
at 80 columns."""

from __future__ import annotations

import re

import pytest


@pytest.mark.needs_data("compas")
def test_run_ob_on_compas_flap_gives_the_ob_table2_cells(cli, fb_env):
    from fairbench.runner.plan import plan_table
    from fairbench.specs import load_table

    code, out, err = cli("run", "--method", "ob", "--dataset", "compas@flap")
    assert code == 0, err
    assert "cf_discrete" in out and "ob:table2 OB-f1" in out and "ob:table2 OB-f2" in out
    stored = set(re.findall(r"record \(ob:table2 OB-f\d\): (\S+)", out))
    # the very runs ob:table2's OB columns ask for: same keys, so the same numbers as the table
    plan = plan_table(load_table("ob:table2"))
    ob_runs = {f"{job.group}/seed-{job.seed}" for job in plan.jobs if job.config["method"] == "ob"}
    assert {"/".join(path.split("/")[-2:]) for path in stored} == ob_runs
    assert "--set k=3" in out  # how to get the other table configurations (ob:table5)


@pytest.mark.needs_data("compas")
def test_run_narrowed_by_set_runs_one_column(cli, fb_env):
    code, out, err = cli("run", "--method", "ob", "--dataset", "compas@flap", "--set", "predictor=f2")
    assert code == 0, err
    assert "ob:table2 OB-f2" in out and "OB-f1" not in out.split("the tables also run")[0]


def test_run_without_data_is_one_line_with_the_fix(cli, fb_env_no_data):
    code, out, err = cli("run", "--method", "ob", "--dataset", "crime")
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert "fairbench download crime" in err and "URLError" not in err and "Traceback" not in err


def test_reproduce_without_data_names_the_fix_and_exits_3(cli, fb_env_no_data):
    code, out, err = cli("reproduce", "ob:table2")
    assert code == 3, err
    summary = out.split("ob:table2: not run")[1]
    assert "data missing: compas (11 run(s))" in summary and "fairbench download compas" in summary
    assert "exit 3" in err
    code, out, err = cli("reproduce", "ob:table2", "--allow-missing")
    assert code == 0, err


def test_reproduce_groups_methods_not_implemented(cli, fb_env_no_data, monkeypatch):
    # the cells of a method that is not registered here: lora, taken out of this installation's catalog (every
    # method a spec names is registered now; the other cells lack the cobum image data)
    from fairbench.catalog import catalog

    monkeypatch.delitem(catalog().methods, "lora")
    code, out, _ = cli("reproduce", "cobum:table2", "--allow-missing", "--methods", "ori,ga,lora")
    assert code == 0
    assert re.search(r"not implemented here \(cells\): .*lora \(\d+\)", out)


def test_huge_seed_counts_pass_with_yes_only(cli, fb_env_no_data):
    assert cli("reproduce", "ob:table2", "--seeds", "1001")[0] == 2
    # with --yes the bound is lifted (the run itself then fails for want of data: the partial exit)
    assert cli("reproduce", "ob:table2", "--seeds", "1001", "--datasets", "compas", "--methods", "ml", "--yes")[0] == 3


def test_list_tables_says_which_data_is_missing(cli, fb_env_no_data):
    code, out, _ = cli("list", "tables")
    assert code == 0
    block = out.split("ob:table2 ")[1].split("ob:table2-robust")[0]
    assert "66 cells: 0 with data here, 0 obtainable, 66 data missing (compas)" in " ".join(block.split())


@pytest.mark.needs_data("compas")
def test_list_tables_counts_present_data(cli, fb_env):
    code, out, _ = cli("list", "tables")
    block = out.split("ob:table2 ")[1].split("ob:table2-robust")[0]
    assert "66 cells: 66 with data here" in " ".join(block.split())


def test_list_methods_prints_markup_literally_within_80_columns(cli, fb_env_no_data, monkeypatch):
    from fairbench import cli as cli_module
    from rich.console import Console

    monkeypatch.setattr(cli_module, "console", Console(width=80, soft_wrap=True))
    code, out, _ = cli("list", "methods")
    assert code == 0
    assert "[one-hot(s), a]" in out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80


def test_help_has_flags_not_bool_metavars(cli):
    for command in ("run", "reproduce", "train", "download"):
        code, out, _ = cli(command, "--help")
        assert code == 0 and "<bool>" not in out and "BOOLEAN" not in out
    assert "--allow-missing / --no-allow-missing" in cli("reproduce", "--help")[1]


AHEAD_OF_LOADERS = """\
paper: ahead
table: loaders
title: a spec naming data ahead of its loaders
rows:
  - {id: faces, label: faces, metric: test_accuracy, run: {task: train_base, dataset: faces_x, method: dnn}}
  - {id: cifar, label: cifar, metric: test_accuracy, run: {task: train_base, dataset: cifar10@later, method: dnn}}
columns:
  - {id: value, label: value}
"""


def test_cells_naming_a_dataset_or_variant_without_a_loader_are_not_run_not_refused(cli, fb_env_no_data, own_table):
    # a spec may name a dataset or a variant ahead of its loader (as cobum did): those cells render not run
    code, out, _ = cli("reproduce", own_table(AHEAD_OF_LOADERS))
    assert code == 3
    assert re.search(r"not implemented here \(cells\): cifar10@later \(\d+\), faces_x \(\d+\)", out)
    assert cli("run", "--method", "bt", "--dataset", "adult@nosuch")[0] == 2  # on the command line: still an error
