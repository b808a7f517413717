"""CLI behaviour: error paths exit 2 with one line, data integrity, the reproduce/check cycle."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fairbench.datasets import DATASETS


def test_help_everywhere(cli):
    for command in ([], ["list"], ["download"], ["verify"], ["train"], ["run"], ["reproduce"], ["render"], ["check"]):
        code, out, _ = cli(*command, "--help")
        assert code == 0 and "Usage" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--method", "definitely_not_a_method", "--dataset", "crime"], "unknown method 'definitely_not_a_method'; known: "),
        (["run", "--method", "ml", "--dataset", "nope"], "unknown dataset 'nope'; known: "),
        (["run", "--method", "ml", "--dataset", "compas@nope"], "unknown variant 'nope' of dataset 'compas'"),
        (["run", "--method", "ml", "--dataset", "compas", "--protocol", "uniform", "--fraction", "1.5"], "--fraction must be in (0, 1)"),
        (["run", "--method", "ml", "--dataset", "compas", "--fraction", "0.1"], "need a --protocol"),
        (["run", "--method", "ml", "--dataset", "compas", "--protocol", "nope"], "unknown protocol 'nope'"),
        (["run", "--method", "ml", "--dataset", "compas", "--set", "oops"], "--set expects key=value"),
        (["run", "--method", "ml", "--dataset", "compas", "--set", "bogus.key=1"], "bogus: task 'cf_discrete' takes no such key; accepted: params"),
        (["reproduce", "table2"], "ob:table2"),
        (["reproduce", "ob:table99"], "unknown table 'ob:table99'"),
        (["reproduce", "ob:table2", "--scale", "huge"], "unknown scale 'huge'"),
        (["render", "ob:table2", "--format", "pdf"], "unknown format 'pdf'"),
        (["list", "gizmos"], "unknown kind 'gizmos'"),
        (["download", "nope"], "unknown dataset 'nope'"),
        (["download"], "name at least one dataset"),
        (["reproduce", "cfdebias:fig5", "--datasets", "adult,crime"], "cfdebias:fig5 runs no dataset crime; it runs: adult, german"),
        (["reproduce", "cfdebias:all", "--methods", "nope"], "these tables run no method nope"),
        (["reproduce", "cfdebias:fig5", "--datasets", ","], "an empty list was given"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli, fb_env_no_data, args, message):
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    assert message in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_dataset_and_method_selection_plans_only_those_cells():
    from fairbench.runner.plan import plan_table
    from fairbench.specs import load_table

    table = load_table("cfdebias:fig5")
    everything = plan_table(table, seeds=1)
    german = plan_table(table, seeds=1, datasets={"german"})
    german_bt = plan_table(table, seeds=1, datasets={"german"}, methods={"bt"})
    assert {job.config["dataset"] for job in german.jobs} == {"german@cfdebias"}
    assert 0 < len(german_bt.jobs) < len(german.jobs) < len(everything.jobs)
    assert {job.config["method"] for job in german_bt.jobs if job.key in german_bt.requested} == {"bt"}
    assert {job.config["task"] for job in german_bt.jobs if job.key not in german_bt.requested} == {"train_base"}
    assert german.selected == len(table.rows) * len(table.columns) // 2


def test_bare_table_lists_candidates(cli, fb_env_no_data):
    code, _, err = cli("reproduce", "table2")
    assert code == 2 and "ambiguous" in err and "ob:table2" in err


def test_list_kinds(cli, fb_env_no_data):
    for kind in ("papers", "tables", "methods", "datasets", "protocols", "metrics"):
        code, out, _ = cli("list", kind)
        assert code == 0 and out.strip()
    assert "ob:table2" in cli("list", "tables")[1]


def test_corrupt_cache_is_reported_refused_and_repaired(cli, fb_env, tmp_path, monkeypatch, mirror):
    cache = tmp_path / "own-cache"
    monkeypatch.setenv("FAIRBENCH_DATA", str(cache))
    code, out, err = cli("download", "compas", "german", "--mirror", str(mirror))
    assert code == 0, err
    code, out, _ = cli("verify")
    assert code == 0 and "CORRUPT" not in out and "OK" in out
    target = cache / "compas" / "compas-scores-two-years.csv"
    data = bytearray(target.read_bytes())
    data[1000] ^= 0x01
    target.write_bytes(bytes(data))
    code, out, err = cli("verify")
    assert code == 1 and "CORRUPT" in out
    code, out, err = cli("run", "--method", "ml", "--dataset", "compas@flap")
    assert code == 2 and "compas-scores-two-years.csv" in err and "corrupt" in err
    code, out, err = cli("download", "compas", "--mirror", str(mirror))
    assert code == 0
    assert cli("verify")[0] == 0


def test_offline_without_mirror_is_a_clear_error(cli, fb_env_no_data):
    code, _, err = cli("run", "--method", "ml", "--dataset", "compas@flap")
    assert code == 2 and "FAIRBENCH_OFFLINE" in err


@pytest.mark.slow
@pytest.mark.needs_data("compas")
def test_reproduce_then_check_ob_table2(cli, fb_env):
    """What users put in their own CI: reproduce ob:table2, then check it."""
    code, out, err = cli("reproduce", "ob:table2")
    assert code == 0, err
    assert re.search(r"ran [1-9]", out)
    code, out, err = cli("check", "ob:table2", "--paper-only")  # the baseline side: tests/test_check_gate_ob.py
    assert code == 0, out + err
    assert ", 0 failing" in out
    code, out, _ = cli("render", "ob:table2", "--format", "csv")
    rows = [line.split(",") for line in out.strip().splitlines()]
    assert rows[0] == ["paper", "table", "row", "column", "value", "std", "n", "reported", "reported_std", "status"]
    cells = {(r[2], r[3]): r for r in rows[1:]}
    for column in ("ML", "FTU"):
        for row in ("ACC", "AUC", "CF-metric"):
            value, reported = float(cells[(row, column)][4]), float(cells[(row, column)][7])
            assert abs(value - reported) <= 0.001
            assert cells[(row, column)][9] == "reproduced"
    assert cells[("ACC", "OB-f1")][9] in ("not-run", "reproduced", "deviates")
    assert (fb_env / "tables" / "ob" / "table2.md").is_file()
    assert (fb_env / "tables" / "ob" / "table2.tex").is_file()
    # a second reproduce trains nothing
    code, out, _ = cli("reproduce", "ob:table2")
    assert code == 0 and "ran 0" in out and "reused" in out


@pytest.mark.needs_data("compas")
def test_run_prints_and_stores_a_record(cli, fb_env):
    code, out, err = cli("run", "--method", "ftu", "--dataset", "compas@flap")
    assert code == 0, err
    assert "expected_accuracy" in out and "0.5726" in out
    code, out, _ = cli("run", "--method", "ftu", "--dataset", "compas@flap")
    assert "reused cached record" in out


@pytest.mark.needs_data("compas")
def test_train_caches_a_base_model(cli, fb_env):
    code, out, err = cli("train", "--dataset", "compas@fairunlearn", "--model", "logreg", "--seed", "1")
    assert code == 0, err
    assert "test_accuracy" in out
    assert "reused" in cli("train", "--dataset", "compas@fairunlearn", "--model", "logreg", "--seed", "1")[1]


@pytest.mark.needs_data("compas")
def test_run_of_an_unlearning_cell_trains_its_base_model_first_and_reuses_it(cli, fb_env):
    from fairbench.store import RecordStore

    args = ("run", "--method", "newton", "--dataset", "compas@fairunlearn", "--protocol", "uniform",
            "--fraction", "0.05", "--set", "model.method=fair_logreg", "--set", "model.params.penalty=none")
    code, out, err = cli(*args)
    assert code == 0, err
    # the train_base run, the reference retrain of this deletion, then the unlearning run
    assert out.count("stored ") == 3 and "l2_to_retrain" in out
    records = {r["config"]["task"]: r for r in RecordStore().iter_records()}
    dependencies = records["unlearn"]["info"]["dependencies"]
    assert dependencies["original"]["task"] == "train_base"
    assert dependencies["original"]["group"] == records["train_base"]["key"]["group"]
    assert dependencies["reference"]["group"] == records["reference_unlearn"]["key"]["group"]
    code, out, _ = cli(*args, "--seed", "1")  # another deletion draw from the same original model
    assert code == 0 and out.count("stored ") == 2  # its reference retrain, then the unlearning run


def test_every_registered_dataset_has_a_source(fb_env_no_data):
    for name, entry in DATASETS.items():
        assert entry.source.licence and entry.source.citation, name
        for spec in entry.source.files:
            # a sha256, or an md5 where that is all the publisher gives (the image archives)
            width = {"sha256": 64, "md5": 32}[spec.algorithm]
            assert spec.digests and all(len(d) == width for d in spec.digests), (name, spec.name)
            assert spec.urls or entry.source.obtain_note, (name, spec.name)


@pytest.mark.needs_data("compas")
def test_same_seed_same_numbers(cli, fb_env):
    from fairbench.runner.jobs import make_job, run_job
    from fairbench.store import RecordStore

    job = make_job({"method": "ml", "dataset": "compas@flap", "seed": 3})
    first = run_job(job)
    assert first.status == "ran"
    a = RecordStore().load(job.group, job.seed)["metrics"]
    run_job(job)
    b = RecordStore().load(job.group, job.seed)["metrics"]
    assert a == b
    assert np.isfinite(list(a.values())).all()


def test_download_from_a_users_folder(cli, fb_env, tmp_path, monkeypatch, mirror):
    monkeypatch.setenv("FAIRBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("FAIRBENCH_MIRROR")
    code, _, err = cli("download", "german", "--from", str(mirror / "german"))
    assert code == 0, err
    assert (tmp_path / "cache" / "german" / "german.data").is_file()
    assert cli("download", "german", "adult", "--from", str(mirror / "german"))[0] == 2


def test_download_from_uses_the_datasets_importer(cli, fb_env_no_data, tmp_path):
    code, _, err = cli("download", "yahoo_r3", "--from", str(tmp_path))
    assert code == 2 and "yahoo_r3" in err and "not found" in err


def test_set_reaches_task_keys(fb_env_no_data):
    from fairbench.cli import _parse_sets

    assert _parse_sets(["threshold=4", "k=5", "a.b=1"], ("threshold",)) == {
        "threshold": 4, "params": {"k": 5}, "a": {"b": 1}}
