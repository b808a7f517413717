"""Shared fixtures: an isolated data cache, record store and tables folder per test session/test.

Tests use the data wherever it is: in a mirror (``FAIRBENCH_MIRROR``, default ``../shared/data`` beside
the repository) or in the user's own download cache (``FAIRBENCH_DATA``, default ``./data``: where the
README's main job puts COMPAS). A test that needs particular datasets says so with
``@pytest.mark.needs_data("compas", ...)``; it runs when each is in one of those places and is skipped
otherwise, always with the wording of :func:`missing_data_reason` (which names the dataset and how to get it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# the user's cache as it was when the session started (the fixtures below point FAIRBENCH_DATA elsewhere)
_USER_CACHE = os.environ.get("FAIRBENCH_DATA")


def _resolved(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (REPO / path).resolve()


def mirror_path() -> Path | None:
    value = os.environ.get("FAIRBENCH_MIRROR")
    path = _resolved(value) if value else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


def user_cache() -> Path:
    return _resolved(_USER_CACHE) if _USER_CACHE else REPO / "data"


def missing_data_reason(*names: str) -> str:
    """The one skip wording for a test whose data is absent."""
    what = f"dataset {', '.join(names)}" if names else "the data mirror's datasets"
    how = "; ".join(f"`fairbench download {name}`" for name in names) if names else "`fairbench download --all`"
    return (f"needs {what}: not in the cache {user_cache()} nor in a mirror (FAIRBENCH_MIRROR); "
            f"get it with {how} or set FAIRBENCH_MIRROR to a folder holding <dataset>/<file>")


def _holds(folder: Path, name: str) -> bool:
    """Whether ``folder`` (a mirror or a cache: the same ``<dataset>/<file>`` layout) has every file of ``name``."""
    from fairbench.datasets import DATASETS

    source = DATASETS.get(name).source
    names = [spec.name for spec in source.files] or list(source.user_files)
    if not names:
        return source.generated
    return all((folder / name / file).is_file() for file in names)


def data_source(*names: str) -> Path | None:
    """A folder holding every file of the datasets ``names`` (the mirror first, then the user's cache);
    with no names, the mirror."""
    places = [place for place in (mirror_path(), user_cache()) if place is not None and place.is_dir()]
    if not names:
        return mirror_path()
    return next((place for place in places if all(_holds(place, name) for name in names)), None)


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_data(*names): runs when these datasets are in the cache or a mirror")


def _needed(request) -> tuple[str, ...]:
    marker = request.node.get_closest_marker("needs_data")
    return tuple(marker.args) if marker else ()


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = mirror_path()
    if path is None:
        pytest.skip(missing_data_reason())
    return path


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One download cache for the whole session, filled from the mirror (or the user's cache) on first use."""
    return tmp_path_factory.mktemp("data-cache")


@pytest.fixture()
def fb_env(request, monkeypatch, tmp_path, shared_cache):
    """Offline environment with a fresh record store and tables folder, whose mirror is a folder holding
    the datasets the test is marked with (``needs_data``), else the data mirror; skipped without one."""
    names = _needed(request)
    source = data_source(*names)
    if source is None:
        pytest.skip(missing_data_reason(*names))
    _isolate(monkeypatch, tmp_path, shared_cache, source)
    yield tmp_path
    _clear_loaded()


@pytest.fixture()
def fb_env_no_data(monkeypatch, tmp_path):
    """The same isolation for tests that must not need any data: an empty cache, no mirror."""
    _isolate(monkeypatch, tmp_path, tmp_path / "empty-cache", None)
    yield tmp_path
    _clear_loaded()


def _isolate(monkeypatch, tmp_path: Path, cache: Path, mirror: Path | None) -> None:
    monkeypatch.setenv("FAIRBENCH_DATA", str(cache))
    if mirror is None:
        monkeypatch.delenv("FAIRBENCH_MIRROR", raising=False)
    else:
        monkeypatch.setenv("FAIRBENCH_MIRROR", str(mirror))
    monkeypatch.setenv("FAIRBENCH_OFFLINE", "1")
    monkeypatch.setenv("FAIRBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("FAIRBENCH_TABLES", str(tmp_path / "tables"))
    monkeypatch.delenv("FAIRBENCH_BENCHMARKS", raising=False)
    _clear_loaded()


def _clear_loaded() -> None:
    from fairbench.datasets import _load_cached

    _load_cached.cache_clear()


@pytest.fixture()
def own_table(tmp_path, monkeypatch):
    """``own_table(spec_text)`` -> ``"paper:table"``: a table spec of the test's own, which ``reproduce`` finds
    (``FAIRBENCH_BENCHMARKS`` points at a folder holding only it)."""
    import yaml

    root = tmp_path / "own-benchmarks"

    def write(text: str) -> str:
        fields = yaml.safe_load(text)
        folder = root / fields["paper"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{fields['table']}.yaml").write_text(text)
        monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(root))
        return f"{fields['paper']}:{fields['table']}"

    return write


@pytest.fixture()
def cli(capsys, monkeypatch):
    """Run the CLI in-process: ``code, out, err = cli("run", "--method", ...)``."""
    from fairbench import cli as cli_module

    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["fairbench", *args])
        try:
            cli_module.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke
