"""Where loaders of user-supplied or self-fetched data (Yahoo! R3, KuaiRec) look for their files,
and how a user's copy is installed into the cache (atomically, never half-written, origin recorded)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..core import settings
from ..core.hashing import sha256_file
from .cache import FileOrigin, commit, part_path, record_origins, writing


def search_folders(name: str) -> list[Path]:
    """``$FAIRBENCH_DATA/<name>`` first, then ``$FAIRBENCH_MIRROR/<name>`` when a mirror is set."""
    folders = [settings.data_dir() / name]
    mirror = settings.mirror_dir()
    if mirror is not None:
        folders.append(mirror / name)
    return folders


def install_user_copies(files: dict[str, Path], target: Path, kind: str = "user folder") -> dict[str, Path]:
    """Copy ``{name: path}`` to ``target/<name>`` through temporary files renamed into place, and record
    each file's origin in the folder's manifest; returns the installed paths."""
    installed: dict[str, Path] = {}
    entries = {}
    with writing(target.name, target.parent) as folder:
        for name, source in files.items():
            tmp = part_path(folder / name)
            try:
                shutil.copyfile(source, tmp)
                digest = sha256_file(tmp)
                commit(tmp, folder / name)
            finally:
                tmp.unlink(missing_ok=True)
            installed[name] = folder / name
            entries[name] = (FileOrigin(kind, str(source)), digest, installed[name].stat().st_size)
        record_origins(folder, entries)
    return installed
