"""Environment-driven settings: where data and results live, whether the network may be used."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """Download cache, ``$FAIRBENCH_DATA`` or ``./data``."""
    return Path(os.environ.get("FAIRBENCH_DATA", "data")).expanduser()


def mirror_dir() -> Path | None:
    """Optional local mirror with files under ``<mirror>/<dataset>/``, ``$FAIRBENCH_MIRROR``."""
    value = os.environ.get("FAIRBENCH_MIRROR")
    return Path(value).expanduser() if value else None


def offline() -> bool:
    """``$FAIRBENCH_OFFLINE=1`` turns every network access into a clear error."""
    return os.environ.get("FAIRBENCH_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def results_dir() -> Path:
    """Record store, ``$FAIRBENCH_RESULTS`` or ``./results``."""
    return Path(os.environ.get("FAIRBENCH_RESULTS", "results")).expanduser()


def benchmarks_dir() -> Path:
    """Table specs: ``$FAIRBENCH_BENCHMARKS`` or the ``benchmarks/`` folder of the source checkout."""
    value = os.environ.get("FAIRBENCH_BENCHMARKS")
    if value:
        return Path(value).expanduser()
    return Path(__file__).resolve().parents[2] / "benchmarks"


def tables_dir() -> Path:
    """Where ``reproduce`` writes rendered tables: ``$FAIRBENCH_TABLES`` or ``./tables``."""
    return Path(os.environ.get("FAIRBENCH_TABLES", "tables")).expanduser()
