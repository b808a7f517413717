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
    """Where ``reproduce`` writes the tables it renders from your runs: ``$FAIRBENCH_TABLES`` or
    ``<results>/tables``, never the committed reference tables (:func:`baseline_dir`) unless asked."""
    value = os.environ.get("FAIRBENCH_TABLES")
    return Path(value).expanduser() if value else results_dir() / "tables"


def baseline_dir() -> Path:
    """The committed reference tables that ``check`` compares with and ``baseline update`` rewrites:
    ``$FAIRBENCH_BASELINE`` or the ``tables/`` folder of the source checkout."""
    value = os.environ.get("FAIRBENCH_BASELINE")
    if value:
        return Path(value).expanduser()
    return Path(__file__).resolve().parents[2] / "tables"
