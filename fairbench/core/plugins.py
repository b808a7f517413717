"""Import every module of a package so that its registrations run.

Registries fill themselves when their modules are imported; discovering the modules here means
adding a method, dataset, metric, protocol or task is adding one file, with no list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Iterable


def import_submodules(package_name: str, package_path: Iterable[str], recursive: bool = False) -> None:
    """Import the package's public modules (not ``_private`` ones, nor ``base`` / ``registry``); with
    ``recursive``, those of its public sub-packages too (a package whose ``__init__`` imports nothing)."""
    for info in sorted(pkgutil.iter_modules(package_path), key=lambda m: m.name):
        if not info.name.startswith("_") and info.name not in {"base", "registry"}:
            module = importlib.import_module(f"{package_name}.{info.name}")
            if recursive and info.ispkg:
                import_submodules(module.__name__, module.__path__, recursive=True)
