"""``fairbench download``: obtain one dataset and say, on one line, what happened.

:func:`download_dataset` never raises for a dataset that cannot be obtained: it returns a
:class:`DownloadOutcome` naming the failure and the fix, so that a download of many datasets tries
every one of them. Only a cache folder that cannot be written (read-only, full) stops everything,
as :class:`~fairbench.datasets.cache.CacheNotWritable`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..core import settings
from ..core.errors import DataError
from .availability import EXTERNAL
from .base import DatasetSource
from .cache import CacheNotWritable, provenance_of, stray_parts, writing
from .download import FIX_MARK, fix_for, install_files, verify_source
from .registry import DATASETS


@dataclass
class DownloadOutcome:
    name: str
    ok: bool
    files: int = 0
    bytes: int = 0
    checked: str = ""  # "sha256 ok" or how files without a published checksum were checked
    sources: list[str] = field(default_factory=list)  # "mirror /path/adult (3 files)", ...
    error: str = ""
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            if not self.files:
                return f"ok      {self.name}: generated on the fly, nothing to download"
            return (f"ok      {self.name}: {self.files} file(s), {self.bytes:,} bytes, {self.checked}; "
                    f"source: {'; '.join(self.sources)}")
        return f"FAILED  {self.name}: {self.error}" + (f"{FIX_MARK}{self.fix}" if self.fix else "")


def download_dataset(name: str, from_dir: Path | None = None) -> DownloadOutcome:
    """Fetch (and repair) one dataset into the cache; the outcome says from where, or why not and what to do."""
    if name in EXTERNAL:
        item = EXTERNAL[name]
        return DownloadOutcome(name, False, error="fairbench has no loader for this dataset yet.",
                               fix=f"the cells that use it cannot run; the data comes from {item.url} ({item.licence}).")
    source = DATASETS.get(name).source
    if source.generated:
        return DownloadOutcome(name, True)
    root = settings.data_dir()
    cached_before: set[str] = set()
    try:
        with writing(source.name, root):  # also clears stray .part files of an interrupted download
            if from_dir is not None and source.importer is not None:
                paths = source.importer(from_dir)
            elif source.files:
                fetched = install_files(source, root=root, from_dir=from_dir)
                paths = {status.name: status.path for status in verify_source(source, root)}
                cached_before = set(paths) - set(fetched)
            elif source.fetcher is not None:
                paths = source.fetcher()
            else:
                raise DataError("no source is known for this dataset.")
    except CacheNotWritable:
        raise
    except DataError as exc:
        if from_dir is not None:
            raise  # the user's own folder is wrong: a user error (exit 2), not a failed download
        error, _, fix = str(exc).partition(FIX_MARK)
        error = _without(error, source.obtain_note).removeprefix(f"{name}: ")
        return DownloadOutcome(name, False, error=error, fix=fix or fix_for(source, root))
    return _success(source, paths, root, cached_before)


def _without(message: str, note: str) -> str:
    """The error without the obtain note it may end with (the note is printed as the fix)."""
    return message.replace(note, "").strip() if note else message


def _origin_place(name: str, entry: dict) -> str:
    """The recorded source of file ``name``, shortened to what files of one dataset share (a folder, a URL
    folder, a package)."""
    kind, origin = entry.get("source", "unrecorded"), entry.get("origin", "")
    if kind in ("mirror", "user folder", "cache"):
        origin = origin[: -len(name) - 1] if origin.endswith("/" + name) else str(Path(origin).parent)
    elif kind == "url":
        origin = origin.rsplit("/", 1)[0] + "/"
    elif kind in ("package index", "debian package"):
        origin = origin.split(":", 1)[0]
    return f"{kind} {origin}".strip()


def _success(source: DatasetSource, paths: dict[str, Path], root: Path, cached_before: set[str]) -> DownloadOutcome:
    recorded = provenance_of(source.name, root)["files"]
    folder = (root / source.name).resolve()
    places: Counter[str] = Counter()
    for name, path in paths.items():
        path = Path(path).resolve()
        if folder not in path.parents:
            places[f"mirror (read in place) {path.parent}"] += 1
            continue
        place = _origin_place(name, recorded.get(name, {}))
        places[f"{place}, cached earlier" if name in cached_before else place] += 1
    sources = [f"{place} ({count} file{'s' if count > 1 else ''})" for place, count in places.items()]
    checked = "sha256 ok" if source.files else "no published sha256, content checked"
    return DownloadOutcome(source.name, True, len(paths), sum(Path(p).stat().st_size for p in paths.values()),
                           checked, sources)


def check_names(names: list[str], every: bool) -> list[str]:
    """The datasets a download asks for (``--all``: every registered one that has files); unknown names are
    a user error, raised before anything is fetched."""
    if every:
        return [name for name, entry in DATASETS.items() if not entry.source.generated]
    if not names:
        raise DataError("name at least one dataset, or pass --all")
    wanted = []
    for spec in names:
        name = spec.partition("@")[0]
        if name not in EXTERNAL:
            DATASETS.get(name)  # raises, listing the known names
        if name not in wanted:
            wanted.append(name)
    return wanted


def verify_rows() -> tuple[list[tuple[str, str, str, str, str]], int, list[Path]]:
    """Rows (dataset, file, state, sha256, source) of every cached file, the number of corrupt files, and the
    stray temporary files of interrupted downloads."""
    root = settings.data_dir()
    rows, corrupt = [], 0
    for name, entry in DATASETS.items():
        recorded = provenance_of(name, root)["files"]
        for status in verify_source(entry.source, root):
            if status.state == "missing":
                continue
            source = _origin_place(status.name, recorded.get(status.name, {}))
            if status.state == "ok":
                rows.append((name, status.name, "[green]OK[/green]", f"{status.found[:12]}…", source))
            else:
                corrupt += 1
                rows.append((name, status.name, "[red]CORRUPT[/red]",
                             f"expected {' or '.join(status.expected)}, found {status.found}", source))
        for file in entry.source.user_files:  # no published checksum: show what was recorded at install
            if (root / name / file).is_file():
                info = recorded.get(file, {})
                digest = info.get("sha256")
                rows.append((name, file, "present (no published sha256)", f"{digest[:12]}…" if digest else "not recorded",
                             _origin_place(file, info)))
    strays = [p for folder in sorted(root.iterdir()) if folder.is_dir() for p in stray_parts(folder)] \
        if root.is_dir() else []
    return rows, corrupt, strays
