"""Where a number came from: code version, package versions, platform."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import fairbench

_PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "torchvision", "pandas")


def git_commit() -> str:
    """Commit of the fairbench checkout, suffixed ``+dirty`` when the tree has changes; 'unknown' outside git.

    ``FAIRBENCH_CODE_VERSION``, when set, is taken instead: the Ray executor ships the driver's package to a
    cluster's workers as a plain folder (no git there) and sets it to the driver's commit, so their records
    name the code that ran."""
    return os.environ.get("FAIRBENCH_CODE_VERSION") or _checkout_commit()


@functools.lru_cache(maxsize=1)
def _checkout_commit() -> str:
    root = Path(fairbench.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "fairbench"],
            cwd=root, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0], "fairbench": fairbench.__version__}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> dict[str, object]:
    return {
        "git_commit": git_commit(),
        "packages": package_versions(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
