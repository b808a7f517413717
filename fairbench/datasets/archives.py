"""Extracting dataset archives without trusting them.

An archive (zip or tar, any compression) may come from a mirror, a download or the user's folder.
Before anything is read or written its whole member list is checked: no absolute or ``..`` paths, no
symbolic or hard links, no device files or other special members, at most ``max_members`` members,
declared sizes within ``max_bytes`` (and, for zips, a compression ratio no zip of real data reaches).
While a member is written, the bytes actually produced are counted (a member may lie about its
size). Each extracted zip member goes to a temporary file, is checked and only then renamed into
place, so "ok" means the content was verified; tar members (the image archives) are read into memory
and decoded, never written out under their own names. Every refusal is a one-line
:class:`~fairbench.core.errors.DataError`.
"""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator

from ..core.errors import DataError
from .cache import commit, part_path


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_bytes: int = 8 << 30  # 8 GiB of extracted data (KuaiRec 2.0 unpacks to under 2 GiB)
    max_ratio: int = 200  # uncompressed / compressed bytes of one member; CSV compresses about 5:1


@dataclass(frozen=True)
class Extracted:
    path: Path
    sha256: str
    size: int


def _path_problem(raw: str) -> str | None:
    """Why a member name could land outside the extraction folder (absolute, a drive, ``..``), or None."""
    name = raw.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (parts and ":" in parts[0]) or ".." in parts:
        return f"member {raw!r} points outside the archive's folder"
    return None


def _member_problem(info: zipfile.ZipInfo, limits: ArchiveLimits) -> str | None:
    if _path_problem(info.filename):
        return _path_problem(info.filename)
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"member {info.filename!r} is a symbolic link"
    if info.file_size > limits.max_bytes:
        return f"member {info.filename!r} unpacks to {info.file_size:,} bytes (limit {limits.max_bytes:,})"
    if info.file_size > max(info.compress_size, 1) * limits.max_ratio and info.file_size > (1 << 20):
        return f"member {info.filename!r} has a compression ratio above {limits.max_ratio}:1 (a zip bomb?)"
    return None


def checked_members(archive: Path, limits: ArchiveLimits) -> dict[str, zipfile.ZipInfo]:
    """``{member name: info}`` of a zip whose every member passed the checks; DataError naming the first problem."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{archive} is not a readable zip archive ({exc})") from None
    if len(infos) > limits.max_members:
        raise DataError(f"{archive} has {len(infos):,} members (limit {limits.max_members:,}); refused")
    _check_listing(archive, infos, _member_problem, lambda info: info.file_size, limits)
    return {info.filename: info for info in infos}


def _check_listing(archive: Path, infos: list, problem_of: Callable, size_of: Callable, limits: ArchiveLimits) -> None:
    """DataError naming the first member with a problem (``problem_of(info, limits)``), or the whole
    archive when its members together unpack to more than the limit."""
    total = 0
    for info in infos:
        problem = problem_of(info, limits)
        if problem:
            raise DataError(f"{archive}: {problem}; refused")
        total += size_of(info)
    if total > limits.max_bytes:
        raise DataError(f"{archive} unpacks to {total:,} bytes (limit {limits.max_bytes:,}); refused")


def extract_files(
    archive: Path,
    wanted: tuple[str, ...],
    target: Path,
    check: Callable[[Path, str], None],
    limits: ArchiveLimits = ArchiveLimits(),
) -> dict[str, Extracted]:
    """Extract the members whose base name is in ``wanted`` (wherever they sit) into ``target/<name>``.

    ``check(tmp_path, name)`` verifies each extracted file before it is renamed into place and raises
    DataError if the content is wrong. Nothing is installed unless every wanted file is present and passes.
    """
    members = checked_members(archive, limits)
    found: dict[str, str] = {}
    for member in members:
        base = PurePosixPath(member.replace("\\", "/")).name
        if base in wanted and not member.endswith("/"):
            found.setdefault(base, member)  # the first copy; macOS archives add __MACOSX/._name shadows later
    missing = [name for name in wanted if name not in found]
    if missing:
        raise DataError(f"{archive} lacks {', '.join(missing)}")
    target.mkdir(parents=True, exist_ok=True)
    staged: dict[str, tuple[Path, str, int]] = {}
    try:
        with zipfile.ZipFile(archive) as zf:
            for name, member in found.items():
                tmp = part_path(target / name)
                staged[name] = (tmp, "", 0)  # registered first: removed in `finally` even if the copy fails
                staged[name] = (tmp, *_copy_limited(zf, members[member], tmp, limits))
                check(tmp, name)
        installed = {}
        for name, (tmp, digest, size) in staged.items():
            commit(tmp, target / name)
            installed[name] = Extracted(target / name, digest, size)
        return installed
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{archive} is damaged ({exc})") from None
    finally:
        for tmp, _, _ in staged.values():
            tmp.unlink(missing_ok=True)


def iter_zip_files(
    archive: Path, keep: Callable[[str], bool], limits: ArchiveLimits = ArchiveLimits()
) -> Iterator[tuple[str, bytes]]:
    """``(member name, content)`` of every file of a checked zip whose name passes ``keep``, in the zip's
    order, read into memory (nothing is written); a member that produces more bytes than it declared is
    refused. DataError when the archive is refused or damaged."""
    members = checked_members(archive, limits)
    try:
        with zipfile.ZipFile(archive) as zf:
            for name, info in members.items():
                if name.endswith("/") or not keep(name):
                    continue
                with zf.open(info) as source:
                    data = source.read(info.file_size + 1)
                if len(data) > info.file_size:
                    raise DataError(f"member {name!r} produces more than its declared {info.file_size:,} bytes; refused")
                yield name, data
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{archive} is damaged ({exc})") from None


def _copy_limited(zf: zipfile.ZipFile, info: zipfile.ZipInfo, tmp: Path, limits: ArchiveLimits) -> tuple[str, int]:
    """Copy one member, hashing it, and stop as soon as it produces more bytes than it declared."""
    digest, written = hashlib.sha256(), 0
    ceiling = min(info.file_size, limits.max_bytes)
    with zf.open(info) as src, open(tmp, "wb") as out:
        for block in iter(lambda: src.read(1 << 20), b""):
            written += len(block)
            if written > ceiling:
                raise DataError(f"member {info.filename!r} produces more than its declared {info.file_size:,} bytes; refused")
            digest.update(block)
            out.write(block)
    return digest.hexdigest(), written


# ---------------------------------------------------------------- tar archives (CIFAR, CUB-200)
def _tar_member_problem(member: tarfile.TarInfo, limits: ArchiveLimits) -> str | None:
    if _path_problem(member.name):
        return _path_problem(member.name)
    if member.issym():
        return f"member {member.name!r} is a symbolic link"
    if member.islnk():
        return f"member {member.name!r} is a hard link"
    if member.isdev():
        return f"member {member.name!r} is a device file or pipe"
    if not (member.isfile() or member.isdir()):
        return f"member {member.name!r} is not a regular file or folder"
    if member.size > limits.max_bytes:
        return f"member {member.name!r} unpacks to {member.size:,} bytes (limit {limits.max_bytes:,})"
    return None


def checked_tar_members(archive: Path, limits: ArchiveLimits = ArchiveLimits()) -> dict[str, tarfile.TarInfo]:
    """``{member name: info}`` of a tar (gzip, bzip2, xz or plain) whose every member passed the checks;
    DataError naming the first problem. Reads the whole archive once (a tar has no central index)."""
    infos: list[tarfile.TarInfo] = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:  # counted while reading: a bomb of tiny members stops at the limit
                infos.append(info)
                if len(infos) > limits.max_members:
                    raise DataError(f"{archive} has more than {limits.max_members:,} members; refused")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{archive} is not a readable tar archive ({exc})") from None
    _check_listing(archive, infos, _tar_member_problem, lambda info: info.size, limits)
    return {info.name: info for info in infos}


def _copy_tar_member(tar: tarfile.TarFile, info: tarfile.TarInfo, out) -> None:
    source = tar.extractfile(info)
    if source is None:
        raise DataError(f"member {info.name!r} has no content")
    written = 0
    for block in iter(lambda: source.read(1 << 20), b""):
        written += len(block)
        if written > info.size:  # tarfile reads exactly the declared size; a guard should that ever change
            raise DataError(f"member {info.name!r} produces more than its declared {info.size:,} bytes; refused")
        out.write(block)


def iter_tar_files(
    archive: Path, keep: Callable[[str], bool], limits: ArchiveLimits = ArchiveLimits()
) -> Iterator[tuple[str, bytes]]:
    """``(member path, content)`` of every regular file of a checked tar whose path passes ``keep``, in
    archive order, read in one pass without writing anything to disk (member paths cannot escape a
    folder that is never created); DataError when the archive is refused or damaged."""
    members = checked_tar_members(archive, limits)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:
                if not info.isfile() or not keep(info.name):
                    continue
                checked = members.get(info.name)
                if checked is None or checked.size != info.size or not checked.isfile():
                    raise DataError(f"{archive} changed while it was read; refused")
                buffer = io.BytesIO()
                _copy_tar_member(tar, info, buffer)
                yield info.name, buffer.getvalue()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{archive} is damaged ({exc})") from None


def read_tar_members(archive: Path, wanted: Iterable[str], limits: ArchiveLimits = ArchiveLimits()) -> dict[str, bytes]:
    """The bytes of the members named in ``wanted`` (exact member paths) of a checked tar; DataError
    naming those that are missing."""
    wanted = set(wanted)
    found = dict(iter_tar_files(archive, wanted.__contains__, limits))
    missing = sorted(wanted - set(found))
    if missing:
        raise DataError(f"{archive} lacks {', '.join(missing)}")
    return found
