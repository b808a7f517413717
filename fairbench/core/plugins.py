"""Import every module of a package so that its registrations run.

Registries fill themselves when their modules are imported; discovering the modules here means
adding a method, dataset, metric, protocol or task is adding one file, with no list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil


def import_submodules(package_name: str, package_path: list[str]) -> None:
    for info in sorted(pkgutil.iter_modules(package_path), key=lambda m: m.name):
        if not info.name.startswith("_") and info.name not in {"base", "registry"}:
            importlib.import_module(f"{package_name}.{info.name}")
