"""KuaiRec (Gao et al., CIKM 2022): a fully observed short-video watching matrix, CC BY-SA 4.0.

Source: the official archive https://zenodo.org/records/18164998/files/KuaiRec.zip (Zenodo record
18164998, about 432 MB; site https://kuairec.com, GitHub chongminggao/KuaiRec). Third-party code
quotes md5 ``261550d472c48eff4990fb13c0e5bcf7`` for it; the publisher's README does not confirm it,
so a differing md5 is recorded and warned about, and the content is checked instead (columns and
the published small-matrix statistics). The archive is fetched into ``$FAIRBENCH_DATA/kuairec/``
when the network may be used; offline, place ``KuaiRec.zip`` (or the extracted ``big_matrix.csv``
and ``small_matrix.csv``) there or in ``$FAIRBENCH_MIRROR/kuairec/``, or run
``fairbench download kuairec --from DIR`` (:func:`import_user_files`).

Files used (``KuaiRec 2.0/data/``; fields ``user_id, video_id, play_duration, video_duration, time,
date, timestamp, watch_ratio``): ``big_matrix.csv`` (7,176 users x 10,728 videos, 12,530,806
interactions) and ``small_matrix.csv`` (1,411 x 3,327, 4,676,570 interactions, 99.6 % dense), in one
id space.

``default`` (task ``ratings``), the reconstruction recommended by ultd.md §7 items 5-6 (the paper
describes no biased part):

- ``test`` (unbiased) = the fully observed ``small_matrix`` (``unbiased: full``), or ``per_user_n``
  random videos per user (``unbiased: per_user_sample``, 83 mimics the public derived file);
- ``train`` (biased) = ``big_matrix`` minus every (user, video) pair that occurs in ``small_matrix``,
  repeated pairs merged by ``dedup`` = ``mean`` (default) | ``last`` | ``max`` of the watch ratio;
  the number of removed pairs is in ``meta``;
- ``y`` = watch_ratio (float; ULTD's positive label is watch_ratio >= 2, ``meta["label_threshold"]``,
  with K = 50, ``meta["ranking_k"]``); ``X`` = (user, video) ids in the big matrix's id space.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
import warnings
from pathlib import Path

import numpy as np

from ..core import settings
from ..core.errors import DataError, OfflineError
from ..core.hashing import sha256_file
from ._preprocessing import check_params
from ._user_files import install_user_copies, search_folders
from .archives import extract_files
from .cache import FileOrigin, commit, is_unwritable, part_path, record_origins, writing
from .base import Dataset, DatasetSource, Split
from .registry import register_dataset

NAME = "kuairec"
URL = "https://zenodo.org/records/18164998/files/KuaiRec.zip"
ARCHIVE = "KuaiRec.zip"
QUOTED_MD5 = "261550d472c48eff4990fb13c0e5bcf7"  # third-party value, unconfirmed by the publisher
BIG, SMALL = "big_matrix.csv", "small_matrix.csv"
COLUMNS = ("user_id", "video_id", "play_duration", "video_duration", "time", "date", "timestamp", "watch_ratio")
SMALL_STATS = {"n_users": 1_411, "n_items": 3_327, "n_rows": 4_676_570}
DEDUP = ("mean", "last", "max")
UNBIASED = ("full", "per_user_sample")

OBTAIN = (
    f"get {URL} (about 432 MB; fetched automatically when FAIRBENCH_OFFLINE is unset) and put {ARCHIVE}, or its "
    f"{BIG} and {SMALL}, in $FAIRBENCH_DATA/kuairec/, or run `fairbench download kuairec --from DIR`"
)

SOURCE = DatasetSource(
    name=NAME,
    files=(),  # fetched and checked by this module (md5 of the archive is unconfirmed, no sha256 is published)
    licence="CC BY-SA 4.0",
    citation=(
        "Gao, C., Li, S., Lei, W., Chen, J., Li, B., Jiang, P., He, X., Mao, J. & Chua, T.-S. (2022). KuaiRec: A "
        "Fully-observed Dataset and Insights for Evaluating Recommender Systems. CIKM. arXiv:2202.10842"
    ),
    homepage="https://kuairec.com",
    description="Kuaishou video watch ratios: big_matrix 7,176 x 10,728 (16.3 % dense), small_matrix 1,411 x 3,327 (99.6 %).",
    obtain_note=OBTAIN,
    importer=lambda folder: import_user_files(folder),  # defined below; no checksum is published
    user_files=(BIG, SMALL),
    fetch_urls=(URL,),
    fetcher=lambda: locate(),
    approx_bytes=432_000_000,  # the archive
)


def _check_extracted(path: Path, name: str) -> None:
    """The structural check an extracted CSV must pass before it is installed: the loader's columns, and
    a first block of rows that parses as numbers."""
    try:
        read_interactions(path, nrows=1000)
    except DataError as exc:  # name the member, not the temporary file it was extracted to
        raise DataError(str(exc).replace(path.name, name)) from None


def _install_archive(archive: Path, origin: FileOrigin, target: Path) -> dict[str, Path]:
    """Extract big_matrix.csv and small_matrix.csv (wherever they sit in the archive) into ``target`` after
    checking the archive (:mod:`.archives`) and their content; records ``origin`` in the manifest."""
    with writing(target.name, target.parent) as folder:
        _check_archive(archive)
        try:
            extracted = extract_files(archive, (BIG, SMALL), folder, _check_extracted)
        except DataError as exc:
            raise DataError(f"kuairec: {exc}. {OBTAIN}") from None
        record_origins(folder, {name: (origin, item.sha256, item.size) for name, item in extracted.items()})
    return {name: item.path for name, item in extracted.items()}


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_archive(archive: Path) -> str:
    found = md5_file(archive)
    if found != QUOTED_MD5:
        warnings.warn(f"kuairec: {archive} has md5 {found}, third-party code quotes {QUOTED_MD5} (unconfirmed); "
                      "the content is checked instead", stacklevel=3)
    return found


def fetch_archive(target: Path) -> Path:
    """Download the official archive into ``target`` (network; refused when offline)."""
    if settings.offline():
        raise OfflineError(f"kuairec: data not present (FAIRBENCH_OFFLINE=1). {OBTAIN}")
    target.mkdir(parents=True, exist_ok=True)
    tmp = part_path(target / ARCHIVE)
    try:
        request = urllib.request.Request(URL, headers={"User-Agent": "fairbench"})
        with urllib.request.urlopen(request, timeout=60) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
        commit(tmp, target / ARCHIVE)
    except OSError as exc:
        if is_unwritable(exc):
            raise
        raise DataError(f"kuairec: downloading {URL} failed ({exc}). {OBTAIN}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target / ARCHIVE


def locate(allow_download: bool = True) -> dict[str, Path]:
    """Paths of big_matrix.csv and small_matrix.csv: extracted copies, else an archive to extract
    into the cache, else the download; DataError saying what to obtain."""
    cache = settings.data_dir() / NAME
    for folder in search_folders(NAME):
        if all((folder / n).is_file() for n in (BIG, SMALL)):
            return {n: folder / n for n in (BIG, SMALL)}
    for folder in search_folders(NAME):
        if (folder / ARCHIVE).is_file():
            where = "cache" if folder == cache else "mirror"
            return _install_archive(folder / ARCHIVE, FileOrigin(where, f"{folder / ARCHIVE}"), cache)
    if not allow_download or settings.offline():
        raise DataError(f"kuairec: data not present. {OBTAIN}")
    with writing(NAME):
        archive = fetch_archive(cache)
    return _install_archive(archive, FileOrigin("url", URL), cache)


def import_user_files(source: Path, directory: Path | None = None) -> dict[str, Path]:
    """Install a user's copy from folder ``source`` (``KuaiRec.zip`` or the two extracted CSVs, also
    under ``KuaiRec 2.0/data/``) into ``directory`` (default ``$FAIRBENCH_DATA/kuairec``)."""
    source = Path(source)
    target = Path(directory) if directory is not None else settings.data_dir() / NAME
    if (source / ARCHIVE).is_file():
        return _install_archive(source / ARCHIVE, FileOrigin("user folder", str(source / ARCHIVE)), target)
    found = {p.name: p for name in (BIG, SMALL) for p in sorted(source.rglob(name))[:1]}
    missing = [n for n in (BIG, SMALL) if n not in found]
    if missing:
        raise DataError(f"kuairec: {', '.join(missing)} not found under {source}. {OBTAIN}")
    for path in found.values():
        read_interactions(path)
    return install_user_copies(found, target)


def read_interactions(path: Path, nrows: int | None = None) -> dict[str, np.ndarray]:
    """``user``, ``item`` (int64), ``watch_ratio`` (float64), ``timestamp`` (float64) columns (the first
    ``nrows`` rows when given); DataError naming the file when the layout or the values are wrong."""
    import pandas as pd

    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    except (ValueError, OSError) as exc:
        raise DataError(f"kuairec: cannot read {path}: {exc}") from None
    missing = [c for c in ("user_id", "video_id", "timestamp", "watch_ratio") if c not in header]
    if missing:
        raise DataError(f"kuairec: {path.name} lacks column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)})")
    try:
        frame = pd.read_csv(path, usecols=["user_id", "video_id", "timestamp", "watch_ratio"], nrows=nrows,
                            dtype={"user_id": np.int64, "video_id": np.int64, "timestamp": np.float64,
                                   "watch_ratio": np.float64})
    except (ValueError, OSError) as exc:  # non-numeric or missing ids, a broken file
        raise DataError(f"kuairec: {path.name} does not hold numeric interactions: {exc}") from None
    if frame["watch_ratio"].isna().any() or (frame[["user_id", "video_id"]] < 0).any().any():
        raise DataError(f"kuairec: {path.name} has missing watch ratios or negative ids")
    return {"user": frame["user_id"].to_numpy(), "item": frame["video_id"].to_numpy(),
            "watch_ratio": frame["watch_ratio"].to_numpy(), "timestamp": frame["timestamp"].fillna(0).to_numpy()}


def merge_repeats(keys: np.ndarray, values: np.ndarray, order: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Unique keys and one value per key: the mean, the last by ``order`` (time), or the max."""
    if how == "last":
        idx = np.lexsort((order, keys))
        keys_sorted, values_sorted = keys[idx], values[idx]
        last = np.r_[keys_sorted[1:] != keys_sorted[:-1], True]
        return keys_sorted[last], values_sorted[last]
    uniq, inverse = np.unique(keys, return_inverse=True)
    if how == "mean":
        sums = np.bincount(inverse, weights=values, minlength=len(uniq))
        return uniq, sums / np.bincount(inverse, minlength=len(uniq))
    out = np.full(len(uniq), -np.inf)
    np.maximum.at(out, inverse, values)
    return uniq, out


def _split(keys: np.ndarray, values: np.ndarray, n_items: int) -> Split:
    return Split(X=np.column_stack([keys // n_items, keys % n_items]).astype(np.int64), y=values.astype(np.float64),
                 index=keys.astype(np.int64))


def load_default(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    opts = check_params(NAME, params, {"dedup": "mean", "unbiased": "full", "per_user_n": 83, "sample_seed": 0})
    if opts["dedup"] not in DEDUP or opts["unbiased"] not in UNBIASED:
        raise DataError(f"kuairec: dedup must be one of {DEDUP} and unbiased one of {UNBIASED}")
    files = locate()
    big, small = read_interactions(files[BIG]), read_interactions(files[SMALL])
    n_users = int(max(big["user"].max(), small["user"].max())) + 1
    n_items = int(max(big["item"].max(), small["item"].max())) + 1
    big_keys, big_values = merge_repeats(big["user"] * n_items + big["item"], big["watch_ratio"], big["timestamp"],
                                         opts["dedup"])
    small_keys, small_values = merge_repeats(small["user"] * n_items + small["item"], small["watch_ratio"],
                                             small["timestamp"], opts["dedup"])
    in_small = np.isin(big_keys, small_keys)
    biased_keys, biased_values = big_keys[~in_small], big_values[~in_small]
    if opts["unbiased"] == "per_user_sample":
        users = small_keys // n_items
        order = np.lexsort((np.random.RandomState(opts["sample_seed"]).random_sample(len(users)), users))
        _, start, counts = np.unique(users[order], return_index=True, return_counts=True)
        rank = np.arange(len(order)) - np.repeat(start, counts)  # random rank of each pair within its user
        keep = np.sort(order[rank < int(opts["per_user_n"])])
        small_keys, small_values = small_keys[keep], small_values[keep]
    small_stats = {"n_users": int(len(np.unique(small["user"]))), "n_items": int(len(np.unique(small["item"]))),
                   "n_rows": int(len(small["user"]))}
    if small_stats != SMALL_STATS:
        warnings.warn(f"kuairec: small_matrix differs from the published statistics {SMALL_STATS}: {small_stats}",
                      stacklevel=2)
    return Dataset(
        name=NAME,
        train=_split(biased_keys, biased_values, n_items),
        test=_split(small_keys, small_values, n_items),
        task="ratings",
        feature_names=["user", "item"],
        meta={
            "n_users": n_users,
            "n_items": n_items,
            "label_threshold": 2.0,
            "ranking_k": 50,
            "options": opts,
            "small_matrix": small_stats,
            "matches_published_counts": small_stats == SMALL_STATS,
            "big_matrix_rows": int(len(big["user"])),
            "big_matrix_pairs": int(len(big_keys)),
            "pairs_removed_from_big": int(in_small.sum()),
            "files": {name: sha256_file(path) for name, path in files.items()},
            "reconstructed": True,
            "index": f"user * {n_items} + item (0-based, big-matrix id space)",
            "notes": [
                "biased part = big_matrix minus the (user, video) pairs of small_matrix (ultd.md §7 item 5)",
                f"repeated pairs merged by {opts['dedup']} watch ratio; unbiased part: {opts['unbiased']}",
                "y = watch_ratio; ULTD's positive label is watch_ratio >= 2 with K = 50",
            ],
        },
    )


register_dataset(
    SOURCE,
    variants={"default": load_default},
    variant_notes={"default": "big_matrix minus small_matrix pairs as train (biased), small_matrix as test (unbiased)"},
)
