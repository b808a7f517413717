"""Shared fixtures: an isolated data cache, record store and tables folder per test session/test,
with the offline mirror (``FAIRBENCH_MIRROR``, default ``../shared/data`` beside the repository)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def mirror_path() -> Path | None:
    value = os.environ.get("FAIRBENCH_MIRROR")
    path = Path(value) if value else REPO.parent / "shared" / "data"
    if not path.is_absolute():
        path = (REPO / path).resolve()
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = mirror_path()
    if path is None:
        pytest.skip("no data mirror: set FAIRBENCH_MIRROR (CI uses ../shared/data)")
    return path


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory, mirror) -> Path:
    """One download cache for the whole session, filled from the mirror on first use."""
    return tmp_path_factory.mktemp("data-cache")


@pytest.fixture()
def fb_env(monkeypatch, tmp_path, shared_cache, mirror):
    """Offline, mirror-backed environment with a fresh record store and tables folder."""
    monkeypatch.setenv("FAIRBENCH_DATA", str(shared_cache))
    monkeypatch.setenv("FAIRBENCH_MIRROR", str(mirror))
    monkeypatch.setenv("FAIRBENCH_OFFLINE", "1")
    monkeypatch.setenv("FAIRBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("FAIRBENCH_TABLES", str(tmp_path / "tables"))
    monkeypatch.delenv("FAIRBENCH_BENCHMARKS", raising=False)
    from fairbench.datasets import _load_cached

    _load_cached.cache_clear()
    yield tmp_path
    _load_cached.cache_clear()


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
