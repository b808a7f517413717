"""Atomic, durable file writes: the one way fairbench writes a file that someone may read later.

A file is written to a temporary name in its destination's folder (so the rename cannot cross file
systems), flushed and fsynced, renamed over the destination with ``os.replace`` and the folder is
fsynced, so that a reader — or the machine after a power loss — finds either the old file or the new
one, never a cut one. A process killed mid-write leaves at most a hidden temporary file
(``.<name>.<random>.part``), which the next writer of a dataset folder removes
(:mod:`fairbench.datasets.cache`) and readers ignore (its name starts with a dot).

A folder that cannot take the file (read-only, full, over quota, not ours) raises :class:`NotWritable`:
an ``OSError`` for callers that translate it themselves (the data cache names ``FAIRBENCH_DATA``) and a
:class:`~fairbench.core.errors.FairbenchError` (one line, exit 2) for everyone else.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from .errors import FairbenchError

PART_SUFFIX = ".part"
# errno values that mean "this folder cannot take the file", whatever is being written
UNWRITABLE_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_REASONS = {errno.ENOSPC: "full", errno.EDQUOT: "over quota", errno.EROFS: "read-only", errno.EFBIG: "over its file-size limit"}


class NotWritable(FairbenchError, OSError):
    """A folder that cannot take a file. Both an OSError (keeps ``errno``) and a one-line user error."""

    def __init__(self, path: Path, exc: OSError):
        OSError.__init__(self, exc.errno, exc.strerror)
        self.path = Path(path)
        self.message = f"cannot write {path}: the folder is {describe_unwritable(exc)} ({exc.strerror or exc})"

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # so that it crosses a process pool intact
        return (_rebuild_not_writable, (str(self.path), self.errno, self.strerror, self.message))


def _rebuild_not_writable(path: str, number: int, strerror: str, message: str) -> NotWritable:
    error = NotWritable(Path(path), OSError(number, strerror))
    error.message = message
    return error


def describe_unwritable(exc: OSError) -> str:
    return _REASONS.get(exc.errno, "not writable")


def is_unwritable(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in UNWRITABLE_ERRNOS


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_path(dest: Path) -> Path:
    """A fresh, empty temporary file beside ``dest`` (hidden, ``.part``), for writers that need a name."""
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=PART_SUFFIX, dir=dest.parent)
    os.close(fd)
    return Path(name)


def commit(tmp: Path, dest: Path) -> None:
    """Make ``tmp`` durable, rename it to ``dest`` (atomic on one file system) and sync the folder."""
    os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


@contextlib.contextmanager
def replacing(dest: Path | str, *, make_parents: bool = True) -> Iterator[Path]:
    """``with replacing(dest) as tmp: <write tmp>`` — the file appears at ``dest`` only when the block
    finishes; an exception (or a killed process) leaves ``dest`` as it was. For writers that take a path
    (``savefig``, ``np.savez``)."""
    dest = Path(dest)
    try:
        if make_parents:
            dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(dest)
    except OSError as exc:
        raise _translated(dest, exc) from None
    try:
        yield tmp
        commit(tmp, dest)
    except OSError as exc:
        raise _translated(dest, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(dest: Path | str, data: bytes, *, make_parents: bool = True) -> None:
    """Write ``data`` to ``dest`` atomically and durably."""
    with replacing(dest, make_parents=make_parents) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def write_text(dest: Path | str, text: str, *, make_parents: bool = True) -> None:
    write_bytes(dest, text.encode("utf-8"), make_parents=make_parents)


def write_with(dest: Path | str, writer: Callable[[Path], object], *, make_parents: bool = True) -> None:
    """Call ``writer(tmp)`` to fill a temporary file, then put it at ``dest`` atomically."""
    with replacing(dest, make_parents=make_parents) as tmp:
        writer(tmp)


def _translated(dest: Path, exc: OSError) -> OSError:
    if isinstance(exc, NotWritable) or not is_unwritable(exc):
        return exc
    return NotWritable(dest.parent, exc)
