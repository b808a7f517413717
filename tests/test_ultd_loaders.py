"""Yahoo! R3 and KuaiRec loaders on small generated files in the real on-disk formats, and the
``recommend`` task / ULTD table spec plumbing (data-absent cells, Coat protocol)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import data_source, missing_data_reason

from fairbench.core.errors import DataError
from fairbench.datasets import kuairec, yahoo_r3
from fairbench.runner.jobs import make_job, run_job
from fairbench.store import RecordStore

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("FAIRBENCH_OFFLINE", "1")
    monkeypatch.delenv("FAIRBENCH_MIRROR", raising=False)
    return tmp_path / "cache"


def _write_yahoo(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Webscope layout: tab-separated 'user<TAB>song<TAB>rating', 1-based ids."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    train = np.array([[u, s, rng.integers(1, 6)] for u in range(1, 9) for s in rng.choice(np.arange(1, 13), 4, replace=False)])
    test = np.array([[u, s, rng.integers(1, 6)] for u in range(1, 5) for s in rng.choice(np.arange(1, 13), 3, replace=False)])
    for name, table in ((yahoo_r3.TRAIN_FILE, train), (yahoo_r3.TEST_FILE, test)):
        (folder / name).write_text("".join(f"{u}\t{s}\t{r}\n" for u, s, r in table))
    return train, test


def test_yahoo_missing_data_says_what_to_obtain(cache):
    with pytest.raises(DataError, match="data not present") as info:
        yahoo_r3.load_default({})
    message = str(info.value)
    assert "webscope.sandbox.yahoo.com" in message and "fairbench download yahoo_r3 --from DIR" in message


def test_yahoo_import_and_load_generated_files(cache, tmp_path):
    train, test = _write_yahoo(tmp_path / "webscope")
    with pytest.raises(DataError, match="bytes"):  # not the size of the distributed files
        yahoo_r3.import_user_files(tmp_path / "webscope")
    installed = yahoo_r3.import_user_files(tmp_path / "webscope", check_size=False)
    assert installed[yahoo_r3.TRAIN_FILE] == cache / "yahoo_r3" / yahoo_r3.TRAIN_FILE
    with pytest.warns(UserWarning, match="published statistics"):
        data = yahoo_r3.load_default({})
    assert data.task == "ratings" and data.meta["n_users"] == 8 and data.meta["n_items"] == int(train[:, 1].max())
    np.testing.assert_array_equal(data.train.X, train[:, :2] - 1)  # 0-based
    np.testing.assert_array_equal(data.test.y, test[:, 2])
    assert data.meta["label_threshold"] == 3 and data.meta["ranking_k"] == 5
    assert set(data.meta["files"]) == {yahoo_r3.TRAIN_FILE, yahoo_r3.TEST_FILE}


def test_yahoo_rejects_malformed_files(cache, tmp_path):
    _write_yahoo(tmp_path / "bad")
    (tmp_path / "bad" / yahoo_r3.TEST_FILE).write_text("1\t0\t3\n")  # 0 is not a 1-based id
    with pytest.raises(DataError, match="1-based"):
        yahoo_r3.import_user_files(tmp_path / "bad", check_size=False)


HEADER = "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n"


def _row(u, v, ratio, ts):
    return f"{u},{v},{int(ratio * 1000)},1000,2020-07-05 05:27:48.378,20200705,{ts:.3f},{ratio}\n"


def _write_kuairec(folder: Path) -> None:
    """KuaiRec 2.0 CSV layout: big matrix (users 0-4, videos 0-9, one repeated pair) and a small
    matrix (users 0-1 x videos 0-2) that overlaps it."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    big = [_row(u, v, round(float(rng.uniform(0, 4)), 3), 1.6e9 + 10 * u + v) for u in range(5) for v in range(10) if (u + v) % 3]
    big.append(_row(4, 1, 3.0, 1.7e9))  # repeats (4, 1): mean / last / max differ
    small = [_row(u, v, round(float(rng.uniform(0, 4)), 3), 1.6e9) for u in range(2) for v in range(3)]
    (folder / kuairec.BIG).write_text(HEADER + "".join(big))
    (folder / kuairec.SMALL).write_text(HEADER + "".join(small))


def test_kuairec_missing_data_says_what_to_obtain(cache):
    with pytest.raises(DataError, match="data not present") as info:
        kuairec.load_default({})
    assert kuairec.URL in str(info.value)


@pytest.mark.parametrize("dedup", ["mean", "last", "max"])
def test_kuairec_biased_part_is_big_minus_small(cache, dedup):
    _write_kuairec(cache / "kuairec")
    with pytest.warns(UserWarning, match="published statistics"):
        data = kuairec.load_default({}, dedup=dedup)
    n_items = data.meta["n_items"]
    assert (data.meta["n_users"], n_items) == (5, 10)
    train_keys = set(data.train.X[:, 0] * n_items + data.train.X[:, 1])
    test_keys = set(data.test.X[:, 0] * n_items + data.test.X[:, 1])
    assert not train_keys & test_keys and len(test_keys) == 6
    removed = sum(1 for u in range(2) for v in range(3) if (u + v) % 3)
    assert data.meta["pairs_removed_from_big"] == removed
    repeated = data.train.y[(data.train.X[:, 0] == 4) & (data.train.X[:, 1] == 1)]
    assert len(repeated) == 1
    big = kuairec.read_interactions(cache / "kuairec" / kuairec.BIG)
    values = big["watch_ratio"][(big["user"] == 4) & (big["item"] == 1)]
    expected = {"mean": values.mean(), "last": 3.0, "max": values.max()}[dedup]
    assert repeated[0] == pytest.approx(expected)
    assert data.meta["label_threshold"] == 2.0 and data.meta["ranking_k"] == 50 and data.meta["reconstructed"]


def test_kuairec_archive_and_per_user_sample(cache, tmp_path):
    _write_kuairec(tmp_path / "src" / "KuaiRec 2.0" / "data")
    archive = cache / "kuairec" / kuairec.ARCHIVE
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for name in (kuairec.BIG, kuairec.SMALL):
            zf.write(tmp_path / "src" / "KuaiRec 2.0" / "data" / name, f"KuaiRec 2.0/data/{name}")
    with pytest.warns(UserWarning):
        data = kuairec.load_default({}, unbiased="per_user_sample", per_user_n=2)
    assert (cache / "kuairec" / kuairec.BIG).is_file()  # extracted into the cache
    assert np.bincount(data.test.X[:, 0]).tolist() == [2, 2]
    installed = kuairec.import_user_files(tmp_path / "src", tmp_path / "copy")
    assert all(path.is_file() for path in installed.values())


def test_data_absent_cells_fail_with_data_not_present(cache, tmp_path):
    store = tmp_path / "results"
    job = make_job({"method": "mf", "dataset": "yahoo_r3", "task": "recommend", "seed": 0,
                    "params": {"max_epochs": 1}})
    outcome = run_job(job, store)
    assert outcome.status == "missing-data"
    assert "data not present" in RecordStore(store).failure(job.group).message


def test_recommend_task_on_coat_mini(tmp_path, monkeypatch):
    mirror = data_source("coat")  # the mirror, or the user's own cache
    if mirror is None:
        pytest.skip(missing_data_reason("coat"))
    monkeypatch.setenv("FAIRBENCH_MIRROR", str(mirror))
    monkeypatch.setenv("FAIRBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("FAIRBENCH_OFFLINE", "1")
    config = {"method": "ultd-jl", "dataset": "coat", "seed": 1, "params": {"max_epochs": 2, "emb_dim": 4}}
    outcome = run_job(make_job(config), tmp_path / "results")
    assert outcome.status == "ran", outcome.message
    job = make_job(config)
    record = RecordStore(tmp_path / "results").load(job.group, job.seed)
    metrics = record["metrics"]
    for key in ("auc", "ndcg@5", "recall@5", "ndcg@5_autodebias", "recall@5_autodebias", "valid_auc", "best_epoch"):
        assert key in metrics
    assert metrics["ndcg@5"] == metrics["ndcg@5_drjl"]
    assert (record["data"]["n_unbiased_train"], record["data"]["n_valid"], record["data"]["n_test"]) == (232, 232, 4176)
    info = record["info"]
    assert info["protocol"]["threshold"] == 3 and info["protocol"]["k"] == 5 and info["protocol"]["uses_unbiased"]
    assert info["hyperparameters"]["emb_dim"] == 4 and 1 <= info["early_stopping"]["best_epoch"] <= 2
    json.dumps(record)


def test_ultd_table_spec_layout_and_paper_values():
    import yaml

    from fairbench.specs import load_table

    table = load_table("ultd:table1")
    corrected = load_table("ultd:table1-corrected")
    assert table.variant.startswith("paper") and corrected.variant.startswith("corrected")
    assert table.cells.keys() == corrected.cells.keys()
    for key, cell in table.cells.items():
        stated = corrected.cells[key]
        assert cell.reported == stated.reported
        assert {**cell.run, "threshold": None, "metric_convention": None} == {**stated.run, "threshold": None, "metric_convention": None}
        assert (cell.run["metric_convention"], stated.run["metric_convention"]) == ("autodebias", "drjl")
        if key[1].startswith(("coat/", "yahoo/")):
            assert (cell.run["threshold"], stated.run["threshold"]) == (4, 3)
    assert [r.id for r in table.rows] == ["MF", "IPS", "DR", "DR-JL", "ESCM2-DR", "CausE", "KDCRec", "LTD",
                                          "AutoDebias", "Res-IPS", "Res-DR", "Ours-TP", "Ours-JL"]
    assert [c.id for c in table.columns] == ["coat/AUC", "coat/N@5", "coat/R@5", "yahoo/AUC", "yahoo/N@5", "yahoo/R@5",
                                             "kuairec/AUC", "kuairec/N@50", "kuairec/R@50"]
    reported = REPO.parent / "shared" / "papers" / "ultd.reported.yaml"
    if reported.is_file():
        paper = yaml.safe_load(reported.read_text())["tables"]["table1"]["cells"]
        for (row, column), cell in table.cells.items():
            assert float(cell.reported) == pytest.approx(paper[row][column]["mean"])
    for (row, column), cell in table.cells.items():
        assert cell.seeds >= 5
        assert cell.run["task"] == "recommend"
        if column.startswith("coat/") and row in ("MF", "IPS", "DR", "Ours-JL"):
            assert cell.tolerance.abs == (0.03 if column.endswith("AUC") else 0.05)
