"""``fairbench download`` / ``verify`` / ``list datasets`` as a user sees them, and the download rows of the
hostile-input battery (issue 13): stray ``.part`` files, crafted archives, read-only and full caches. No network."""

from __future__ import annotations

import errno
import hashlib
import json
import stat
import zipfile
from pathlib import Path

import pytest

from fairbench.datasets import DATASETS, download, kuairec, provenance_of
from fairbench.datasets.archives import ArchiveLimits, checked_members, extract_files
from fairbench.datasets.availability import GENERATED, MANUAL, OBTAINABLE, PRESENT, dataset_availability
from fairbench.datasets.base import DataFile, DatasetEntry, DatasetSource, DebSource, PipSource
from fairbench.datasets.cache import MANIFEST, stray_parts, writing
from fairbench.core.errors import DataError

CONTENT = b"alpha,beta\n1,2\n3,4\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _toy(name: str, **kwargs) -> DatasetSource:
    return DatasetSource(name, (DataFile("table.csv", (_sha(CONTENT),), size=len(CONTENT)),), "toy licence", "", "",
                         **kwargs)


@pytest.fixture
def toys(tmp_path, monkeypatch):
    """Three toy datasets, the alphabetically first one missing from the mirror; offline; the registry holds
    only them and the manual Yahoo! R3 / KuaiRec entries."""
    cache, mirror = tmp_path / "cache", tmp_path / "mirror"
    for name in ("toy_b", "toy_c"):
        (mirror / name).mkdir(parents=True)
        (mirror / name / "table.csv").write_bytes(CONTENT)
    monkeypatch.setenv("FAIRBENCH_DATA", str(cache))
    monkeypatch.setenv("FAIRBENCH_MIRROR", str(mirror))
    monkeypatch.setenv("FAIRBENCH_OFFLINE", "1")
    entries = {name: DatasetEntry(_toy(name), {"default": None}) for name in ("toy_a", "toy_b", "toy_c")}
    entries["yahoo_r3"] = DATASETS.get("yahoo_r3")
    entries["kuairec"] = DATASETS.get("kuairec")
    monkeypatch.setattr(DATASETS, "_entries", entries)
    return cache, mirror


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------- download summary
def test_download_all_tries_every_dataset_and_names_the_fix(cli, toys):
    cache, _ = toys
    code, out, err = cli("download", "--all")
    assert code == 1, err
    lines = out.splitlines()
    failed = next(line for line in lines if line.startswith("FAILED  toy_a"))
    assert f"put table.csv in {(cache / 'toy_a').resolve()}/" in failed and "FAIRBENCH_MIRROR" in failed
    for name in ("toy_b", "toy_c"):  # tried after the failure, and obtained
        line = next(line for line in lines if line.startswith(f"ok      {name}"))
        assert "1 file(s), 19 bytes, sha256 ok" in line and f"mirror {toys[1] / name}" in line
        assert (cache / name / "table.csv").read_bytes() == CONTENT
    summary = lines[-1]
    assert summary.startswith("2 of 5 dataset(s)") and "not obtained: kuairec, toy_a, yahoo_r3" in summary
    assert not (cache / "toy_a").exists() and not (cache / "yahoo_r3").exists()  # no empty folder left behind


def test_manual_dataset_says_which_file_goes_where(cli, toys):
    cache, _ = toys
    code, out, _ = cli("download", "yahoo_r3")
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("FAILED  yahoo_r3"))
    assert "ydata-ymusic-rating-study-v1_0-train.txt" in line and f"{(cache / 'yahoo_r3').resolve()}/" in line
    assert "0 file(s)" not in out and not (cache / "yahoo_r3").exists()


def test_unknown_dataset_is_a_user_error(cli, toys):
    code, _, err = cli("download", "toy_b", "no_such_set")
    assert code == 2 and "unknown dataset 'no_such_set'" in _one_line_error(err)
    assert not (toys[0] / "toy_b").exists()  # checked before anything is fetched


def _external(monkeypatch) -> str:
    """A dataset a table names but fairbench has no loader for (every paper's set has one now: a stand-in)."""
    from fairbench.datasets import availability

    monkeypatch.setitem(availability.EXTERNAL, "faces_x", availability.ExternalDataset(
        "faces_x", "non-commercial research only", "https://faces.example.org/faces_x.html", 1_000_000))
    return "faces_x"


def test_image_set_without_loader_is_reported(cli, toys, monkeypatch):
    name = _external(monkeypatch)
    code, out, _ = cli("download", name)
    assert code == 1 and f"FAILED  {name}: fairbench has no loader" in out and "faces.example.org" in out


# ---------------------------------------------------------------- provenance
def test_source_is_recorded_and_shown_by_verify(cli, toys):
    cache, mirror = toys
    assert cli("download", "toy_b")[0] == 0
    record = provenance_of("toy_b")
    entry = record["files"]["table.csv"]
    assert entry["source"] == "mirror" and entry["origin"] == str(mirror / "toy_b" / "table.csv")
    assert entry["sha256"] == _sha(CONTENT) and entry["bytes"] == len(CONTENT) and entry["time"].endswith("Z")
    assert json.loads((cache / "toy_b" / MANIFEST).read_text())["files"]["table.csv"] == entry
    code, out, _ = cli("verify")
    assert code == 0 and "toy_b" in out and "mirror" in out and "OK" in out
    # a file placed by hand is reported as unrecorded, not invented
    (cache / "toy_c").mkdir()
    (cache / "toy_c" / "table.csv").write_bytes(CONTENT)
    assert provenance_of("toy_c")["files"]["table.csv"]["source"] == "unrecorded"


def test_user_folder_is_recorded(cli, toys, tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "table.csv").write_bytes(CONTENT)
    code, out, err = cli("download", "toy_a", "--from", str(own))
    assert code == 0, err
    assert f"user folder {own}" in out
    assert provenance_of("toy_a")["files"]["table.csv"]["source"] == "user folder"


def test_debian_package_fallback(toys, monkeypatch, tmp_path):
    cache, _ = toys
    monkeypatch.delenv("FAIRBENCH_OFFLINE")
    monkeypatch.delenv("FAIRBENCH_MIRROR")
    unpacked = tmp_path / "fairbench-package-x" / "root"
    (unpacked / "usr/share/toy").mkdir(parents=True)
    (unpacked / "usr/share/toy/table.csv").write_bytes(CONTENT)
    asked = []
    monkeypatch.setattr(download, "_download_deb", lambda package: asked.append(package) or unpacked)
    source = DatasetSource("toy_d", (DataFile("table.csv", (_sha(CONTENT),), deb_member="usr/share/toy/table.csv"),),
                           "", "", "", deb_source=DebSource("dataset-toy"))
    download.ensure_files(source)
    assert asked == ["dataset-toy"] and (cache / "toy_d" / "table.csv").read_bytes() == CONTENT
    entry = provenance_of("toy_d")["files"]["table.csv"]
    assert entry["source"] == "debian package" and entry["origin"] == "dataset-toy:usr/share/toy/table.csv"
    assert not unpacked.parent.exists()  # the temporary unpacked package is removed


# ---------------------------------------------------------------- stray .part files (issue 13)
def test_stray_part_files_are_reported_then_cleaned(cli, toys):
    cache, _ = toys
    assert cli("download", "toy_b")[0] == 0
    stray = cache / "toy_b" / ".table.csv.k9x2.part"  # what a download killed with SIGKILL leaves
    stray.write_bytes(CONTENT[:5])
    code, out, _ = cli("verify")
    line = next(line for line in out.splitlines() if line.startswith("stray"))
    assert code == 0 and str(stray) in line and "fairbench download toy_b" in line
    assert cli("download", "toy_b")[0] == 0
    assert not stray.exists() and stray_parts(cache / "toy_b") == []
    assert not any(line.startswith("stray") for line in cli("verify")[1].splitlines())


# ---------------------------------------------------------------- read-only and full caches (issue 13)
@pytest.mark.parametrize("code, word", [(errno.EROFS, "read-only"), (errno.ENOSPC, "full")])
def test_unwritable_cache_is_one_line_exit_2(cli, toys, monkeypatch, code, word):
    import tempfile

    def refuse(*args, **kwargs):
        raise OSError(code, "simulated")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    exit_code, out, err = cli("download", "toy_b", "toy_c")
    assert exit_code == 2
    line = _one_line_error(err)
    assert word in line and "FAIRBENCH_DATA" in line and "internal error" not in line
    assert not (toys[0] / "toy_b").exists()


def test_cache_path_that_is_a_file_is_one_line_exit_2(cli, toys, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("FAIRBENCH_DATA", str(blocker))
    code, _, err = cli("download", "toy_b")
    assert code == 2 and "not-a-folder" in _one_line_error(err)


def test_disk_full_while_copying(cli, toys, monkeypatch):
    import shutil

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)
    code, _, err = cli("download", "toy_b")
    assert code == 2 and "is full" in _one_line_error(err)
    assert not (toys[0] / "toy_b").exists()


# ---------------------------------------------------------------- crafted archives (issue 13)
HEADER = "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n"
ROWS = "0,1,5,10,2020-07-05 00:00:00,20200705,1593878400.0,0.5\n1,2,20,10,2020-07-05 00:00:00,20200705,1593878400.0,2.0\n"


def _zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


GOOD = {"KuaiRec 2.0/data/big_matrix.csv": (HEADER + ROWS).encode(),
        "KuaiRec 2.0/data/small_matrix.csv": (HEADER + ROWS).encode()}

CRAFTED = {
    "wrong content": ({**GOOD, "KuaiRec 2.0/data/big_matrix.csv": b"name,colour\nx,red\n"}, None, "lacks column"),
    "non-numeric rows": ({**GOOD, "KuaiRec 2.0/data/small_matrix.csv": (HEADER + "a,b,c,d,e,f,g,h\n").encode()}, None,
                         "numeric"),
    "path traversal": ({**GOOD, "../../evil.csv": b"x"}, None, "outside"),
    "absolute path": ({**GOOD, "/etc/evil.csv": b"x"}, None, "outside"),
    "symlink": (GOOD, {"KuaiRec 2.0/data/link": "/etc/passwd"}, "symbolic link"),
    "zip bomb": ({**GOOD, "KuaiRec 2.0/data/item_daily_features.csv": b"\0" * (8 << 20)}, None, "zip bomb"),
    "missing member": ({"KuaiRec 2.0/data/big_matrix.csv": GOOD["KuaiRec 2.0/data/big_matrix.csv"]}, None,
                       "lacks small_matrix.csv"),
    "not a zip": (None, None, "not a readable zip"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_kuairec_zip_is_refused_with_one_line(cli, toys, tmp_path, case):
    cache, mirror = toys
    members, links, expected = CRAFTED[case]
    own = tmp_path / "own"
    if members is None:
        own.mkdir()
        (own / kuairec.ARCHIVE).write_bytes(b"PK\x03\x04 this is not a zip")
    else:
        _zip(own / kuairec.ARCHIVE, members, links)
    with pytest.warns(UserWarning, match="md5"):  # the third-party md5 never matches a test archive
        code, _, err = cli("download", "kuairec", "--from", str(own))
    assert code == 2 and expected in _one_line_error(err)
    assert not (cache / "kuairec").exists() and not (tmp_path / "evil.csv").exists()
    # the same archive in the mirror: a FAILED line, exit 1, nothing installed
    (mirror / "kuairec").mkdir()
    (mirror / "kuairec" / kuairec.ARCHIVE).write_bytes((own / kuairec.ARCHIVE).read_bytes())
    with pytest.warns(UserWarning, match="md5"):
        code, out, _ = cli("download", "kuairec")
    assert code == 1 and expected in next(line for line in out.splitlines() if line.startswith("FAILED  kuairec"))
    assert not (cache / "kuairec").exists()


def test_good_kuairec_zip_is_installed_with_its_source(cli, toys, tmp_path):
    cache, _ = toys
    archive = _zip(tmp_path / "own" / kuairec.ARCHIVE, GOOD)
    with pytest.warns(UserWarning, match="md5"):
        code, out, err = cli("download", "kuairec", "--from", str(archive.parent))
    assert code == 0, err
    assert "ok      kuairec: 2 file(s)" in out and "no published sha256, content checked" in out
    entry = provenance_of("kuairec")["files"][kuairec.BIG]
    assert entry["source"] == "user folder" and entry["origin"] == str(archive)
    assert entry["sha256"] == _sha(GOOD["KuaiRec 2.0/data/big_matrix.csv"])
    assert stray_parts(cache / "kuairec") == []


def test_archive_limits(tmp_path):
    archive = _zip(tmp_path / "a.zip", {f"m{i}.csv": b"1\n" for i in range(5)})
    with pytest.raises(DataError, match="5 members"):
        checked_members(archive, ArchiveLimits(max_members=4))
    with pytest.raises(DataError, match="unpacks to 10 bytes"):
        checked_members(archive, ArchiveLimits(max_bytes=9))

    def reject(path, name):
        raise DataError(f"{name}: wrong")

    with pytest.raises(DataError, match="m1.csv: wrong"):
        extract_files(archive, ("m1.csv",), tmp_path / "out", reject)
    assert list((tmp_path / "out").iterdir()) == []  # the checked temporary file is gone


# ---------------------------------------------------------------- availability (list datasets)
def _never(kind, target):
    raise AssertionError("probed although offline")


def test_availability_states(tmp_path):
    cache, mirror = tmp_path / "cache", tmp_path / "mirror"
    source = DatasetSource("toy", (DataFile("t.csv", ("0" * 64,), urls=("https://example.invalid/t.csv",),
                                            pip_member="pkg/t.csv"),), "L", "", "",
                           pip_source=PipSource("p==1"))
    manual = dataset_availability(source, cache=cache, mirror=None, offline=True, reachable=_never)
    assert manual.state == MANUAL and "FAIRBENCH_OFFLINE=1" in manual.detail and str(cache / "toy") in manual.detail
    online = dataset_availability(source, cache=cache, mirror=None, offline=False,
                                  reachable=lambda kind, target: kind == "package index")
    assert online.state == OBTAINABLE and online.detail == "package index p==1"
    nothing = dataset_availability(source, cache=cache, mirror=None, offline=False, reachable=lambda k, t: False)
    assert nothing.state == MANUAL and "none answers now" in nothing.detail
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "t.csv").write_text("x")
    assert dataset_availability(source, cache=cache, mirror=mirror, offline=True, reachable=_never).state == PRESENT
    (cache / "toy").mkdir(parents=True)
    (cache / "toy" / "t.csv").write_text("x")
    present = dataset_availability(source, cache=cache, mirror=None, offline=True, reachable=_never)
    assert present.state == PRESENT and present.detail == f"cache {cache / 'toy'}" and present.licence == "L"
    generator = DatasetSource("gen", (), "generated", "", "")
    assert dataset_availability(generator, cache=cache, mirror=None, offline=True, reachable=_never).state == GENERATED


def test_availability_of_kuairec_archive_and_manual_sets(tmp_path):
    cache, mirror = tmp_path / "cache", tmp_path / "mirror"
    source = DATASETS.get("kuairec").source
    assert dataset_availability(source, cache=cache, mirror=mirror, offline=True, reachable=_never).state == MANUAL
    _zip(mirror / "kuairec" / kuairec.ARCHIVE, GOOD)
    found = dataset_availability(source, cache=cache, mirror=mirror, offline=True, reachable=_never)
    assert found.state == OBTAINABLE and "archive in the mirror" in found.detail
    yahoo = dataset_availability(DATASETS.get("yahoo_r3").source, cache=cache, mirror=mirror, offline=False,
                                 reachable=lambda k, t: True)
    assert yahoo.state == MANUAL and "webscope" in yahoo.detail  # no network source: never obtainable


def test_list_datasets_matches_download(cli, toys):
    code, out, _ = cli("list", "datasets")
    assert code == 0
    states = {line.split()[0]: line.split()[1] for line in out.splitlines() if line and not line.startswith(" ")
              and len(line.split()) > 1 and not line[0].isdigit()}
    assert states["toy_a"] == "manual" and states["toy_b"] == "present" and states["yahoo_r3"] == "manual"
    _, out, _ = cli("download", "--all")
    obtained = {line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("ok ")}
    assert obtained == {name for name, state in states.items() if state in ("present", "obtainable")}


# ---------------------------------------------------------------- two writers
def _hammer(cache: str, mirror: str, rounds: int) -> None:
    import os

    os.environ.update(FAIRBENCH_DATA=cache, FAIRBENCH_MIRROR=mirror, FAIRBENCH_OFFLINE="1")
    source = _toy("toy_b")
    for _ in range(rounds):
        download.ensure_files(source, repair=True)
        with writing("toy_b", Path(cache)) as folder:  # as a repair would: the other process must fetch again
            (folder / "table.csv").unlink(missing_ok=True)


def test_two_processes_downloading_the_same_dataset(toys):
    import multiprocessing

    cache, mirror = toys
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_hammer, args=(str(cache), str(mirror), 15)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert stray_parts(cache / "toy_b") == []
    assert json.loads((cache / "toy_b" / MANIFEST).read_text())["files"]["table.csv"]["source"] == "mirror"


def test_availability_by_name_for_table_listings(toys, monkeypatch):
    from fairbench.datasets.availability import NO_LOADER, availability_of

    assert availability_of("toy_b@anything", reachable=_never).state == PRESENT
    assert availability_of("toy_a", reachable=_never).state == MANUAL
    assert availability_of(_external(monkeypatch), reachable=_never).state == NO_LOADER


KILLED_MID_COPY = """
import os, shutil, signal, sys
from fairbench.datasets import download
from tests.test_download_cli import _toy

def half_then_die(src, dst):
    with open(src, "rb") as a, open(dst, "wb") as b:
        b.write(a.read()[:7])
        b.flush()
    os.kill(os.getpid(), signal.SIGKILL)

shutil.copyfile = half_then_die
download.ensure_files(_toy("toy_b"))
"""


def test_download_killed_with_sigkill_leaves_a_part_that_verify_reports_and_download_cleans(cli, toys):
    import os
    import signal
    import subprocess
    import sys

    cache, _ = toys
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run([sys.executable, "-c", KILLED_MID_COPY], env=env, cwd=repo, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    left = stray_parts(cache / "toy_b")
    assert len(left) == 1 and not (cache / "toy_b" / "table.csv").exists()
    code, out, _ = cli("verify")
    assert code == 0 and any(line.startswith("stray") and str(left[0]) in line for line in out.splitlines())
    assert cli("download", "toy_b")[0] == 0
    assert stray_parts(cache / "toy_b") == [] and (cache / "toy_b" / "table.csv").read_bytes() == CONTENT
