"""The dataset registry. Loader modules register themselves on import."""

from __future__ import annotations

from ..core.registry import Registry
from .base import DatasetEntry, DatasetSource, Loader

DATASETS: Registry[DatasetEntry] = Registry("dataset")


def register_dataset(
    source: DatasetSource, variants: dict[str, Loader], variant_notes: dict[str, str] | None = None
) -> DatasetEntry:
    if "default" not in variants:
        raise ValueError(f"dataset {source.name} needs a 'default' variant")
    entry = DatasetEntry(source=source, variants=variants, variant_notes=variant_notes or {})
    DATASETS.register(source.name, entry)
    return entry
