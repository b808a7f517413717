"""Dataset registry, fetching with checksums, and loaders.

``load_dataset("compas@flap", seed=0)`` verifies (never repairs) the cached files, fetches missing ones,
and runs the named loader variant. ``fairbench download`` is the command that repairs corrupt files.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from ..core.errors import FairbenchError
from .base import Dataset, DatasetEntry, DatasetSource, DataFile, DebSource, PipSource, Split
from .cache import provenance_of
from .download import ensure_files, verify_source
from .registry import DATASETS, register_dataset

from ..core.plugins import import_submodules

import_submodules(__name__, __path__)  # loader modules register themselves

__all__ = [
    "DATASETS",
    "DataFile",
    "Dataset",
    "DatasetEntry",
    "DatasetSource",
    "DebSource",
    "PipSource",
    "Split",
    "ensure_files",
    "load_dataset",
    "parse_dataset_name",
    "provenance_of",
    "register_dataset",
    "verify_source",
]


def parse_dataset_name(spec: str) -> tuple[DatasetEntry, str]:
    """Split ``name@variant`` and check both exist."""
    name, _, variant = spec.partition("@")
    entry = DATASETS.get(name)
    variant = variant or "default"
    if variant not in entry.variants:
        known = ", ".join(f"{name}@{v}" if v != "default" else name for v in sorted(entry.variants))
        raise FairbenchError(f"unknown variant '{variant}' of dataset '{name}'; known: {known}")
    return entry, variant


def load_dataset(spec: str, seed: int = 0, params: dict[str, Any] | None = None) -> Dataset:
    """Load ``name[@variant]`` with the variant's preprocessing; ``params`` go to the loader."""
    return _load_cached(spec, seed, json.dumps(params or {}, sort_keys=True))


@functools.lru_cache(maxsize=16)
def _load_cached(spec: str, seed: int, params_json: str) -> Dataset:
    entry, variant = parse_dataset_name(spec)
    paths = ensure_files(entry.source)
    params = json.loads(params_json)
    try:
        dataset = entry.variants[variant](paths, seed=seed, **params)
    except TypeError as exc:
        raise FairbenchError(f"bad parameters for dataset '{spec}': {exc}") from None
    dataset.meta.setdefault("files", {})
    for name, path in paths.items():
        dataset.meta["files"][name] = _digest_of(entry.source, name, path)
    dataset.meta["dataset"] = spec
    return dataset


def _digest_of(source: DatasetSource, name: str, path: Any) -> str:
    from .download import file_digest

    spec = next(f for f in source.files if f.name == name)
    return file_digest(path, spec)
