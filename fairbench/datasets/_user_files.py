"""Where loaders of user-supplied or self-fetched data (Yahoo! R3, KuaiRec) look for their files,
and how a user's copy is installed into the cache (atomically, never half-written)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..core import settings


def search_folders(name: str) -> list[Path]:
    """``$FAIRBENCH_DATA/<name>`` first, then ``$FAIRBENCH_MIRROR/<name>`` when a mirror is set."""
    folders = [settings.data_dir() / name]
    mirror = settings.mirror_dir()
    if mirror is not None:
        folders.append(mirror / name)
    return folders


def install(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` through a temporary file renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.part"
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    return target
