"""Yahoo! R3 (Webscope): music ratings for user-selected (biased) and randomly selected songs.

The Webscope Data Sharing Agreement forbids redistribution, so nothing is downloaded: the user
supplies the two raw files of "Yahoo! Music ratings for User Selected and Randomly Selected songs,
version 1.0" (https://webscope.sandbox.yahoo.com/catalog.php?datatype=r) and installs them with
``fairbench download yahoo_r3 --from DIR`` (:func:`import_user_files`), or copies them to
``$FAIRBENCH_DATA/yahoo_r3/``; ``$FAIRBENCH_MIRROR/yahoo_r3/`` is also searched.

Files (whitespace-separated ``user song rating`` lines, 1-based ids, ratings 1-5):

- ``ydata-ymusic-rating-study-v1_0-train.txt``: 311,704 user-selected ratings by 15,400 users on
  1,000 songs (the biased part; 3,459,357 bytes as commonly distributed);
- ``ydata-ymusic-rating-study-v1_0-test.txt``: 54,000 ratings, 10 random songs for each of 5,400
  users (the unbiased part; 577,233 bytes).

Yahoo publishes no checksum: the loader checks the content (counts, id ranges, ratings) and records
each file's sha256 in the dataset meta. ``default`` (task ``ratings``), same layout as ``coat``:
``train`` = biased ratings, ``test`` = unbiased ratings, ``X`` = (user, item) 0-based ids, ``y`` =
rating; ``meta``: ``n_users`` 15,400, ``n_items`` 1,000, ``label_threshold`` 3 and ``ranking_k`` 5
(the ULTD paper's binarisation and cut-off, used by the ``recommend`` task unless overridden).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..core import settings
from ..core.errors import DataError
from ..core.hashing import sha256_file
from ._preprocessing import check_params
from ._user_files import install_user_copies, search_folders
from .base import Dataset, DatasetSource, Split
from .registry import register_dataset

NAME = "yahoo_r3"
TRAIN_FILE = "ydata-ymusic-rating-study-v1_0-train.txt"
TEST_FILE = "ydata-ymusic-rating-study-v1_0-test.txt"
# bytes as commonly distributed; Yahoo publishes neither sizes nor checksums
KNOWN_SIZES = {TRAIN_FILE: 3_459_357, TEST_FILE: 577_233}
PUBLISHED = {"n_users": 15_400, "n_items": 1_000, "n_train": 311_704, "n_test": 54_000, "n_test_users": 5_400}

OBTAIN = (
    "Yahoo! R3 may not be redistributed: get 'R3 - Yahoo! Music ratings for User Selected and Randomly Selected "
    "songs, v1.0' from https://webscope.sandbox.yahoo.com/catalog.php?datatype=r under your own agreement and run "
    "`fairbench download yahoo_r3 --from DIR` (DIR holding ydata-ymusic-rating-study-v1_0-train.txt and -test.txt), "
    "or copy both files to $FAIRBENCH_DATA/yahoo_r3/"
)

SOURCE = DatasetSource(
    name=NAME,
    files=(),  # user-supplied (see import_user_files); no published checksum to pin
    licence="Yahoo! Webscope Data Sharing Agreement (no redistribution)",
    citation=(
        "Marlin, B. M. & Zemel, R. S. (2009). Collaborative prediction and ranking with non-random missing data. "
        "RecSys. Data: Yahoo! Webscope R3."
    ),
    homepage="https://webscope.sandbox.yahoo.com/catalog.php?datatype=r",
    description="15,400 users x 1,000 songs: 311,704 self-selected and 54,000 randomly selected ratings (1-5).",
    obtain_note=OBTAIN,
    importer=lambda folder: import_user_files(folder),  # defined below; no checksum is published
    user_files=(TRAIN_FILE, TEST_FILE),
    fetcher=lambda: locate(),  # the cache or the mirror only: never downloaded
    approx_bytes=3_459_357 + 577_233,
)


def locate() -> dict[str, Path]:
    """Paths of the two raw files (cache first, then the mirror); DataError saying what to obtain."""
    found: dict[str, Path] = {}
    for name in (TRAIN_FILE, TEST_FILE):
        for folder in search_folders(NAME):
            if (folder / name).is_file():
                found[name] = folder / name
                break
    missing = [name for name in (TRAIN_FILE, TEST_FILE) if name not in found]
    if missing:
        raise DataError(f"yahoo_r3: data not present. {OBTAIN}")
    return found


def read_ratings(path: Path) -> np.ndarray:
    """(n, 3) int64 ``user, item, rating`` with 1-based ids as in the file; DataError if malformed."""
    try:
        table = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"yahoo_r3: {path.name} is not 'user song rating' integer lines: {exc}") from None
    if table.shape[1] != 3 or len(table) == 0:
        raise DataError(f"yahoo_r3: {path.name} must have 3 columns (user, song, rating), found shape {table.shape}")
    if table[:, :2].min() < 1 or table[:, 2].min() < 1 or table[:, 2].max() > 5:
        raise DataError(f"yahoo_r3: {path.name} needs 1-based ids and ratings 1..5")
    return table


def _split(table: np.ndarray, n_items: int) -> Split:
    users, items = table[:, 0] - 1, table[:, 1] - 1
    return Split(X=np.column_stack([users, items]), y=table[:, 2].copy(), index=users * n_items + items)


def import_user_files(source: Path, directory: Path | None = None, *, check_size: bool = True) -> dict[str, Path]:
    """Install the user's copy of the two raw files from folder ``source`` into the cache.

    Each file is checked (size when known, then its content) before it is copied; ``directory``
    defaults to ``$FAIRBENCH_DATA/yahoo_r3``. Returns the installed paths. ``check_size=False``
    accepts copies whose size differs from the common distribution (e.g. other line endings).
    """
    source = Path(source)
    target = Path(directory) if directory is not None else settings.data_dir() / NAME
    missing = [name for name in (TRAIN_FILE, TEST_FILE) if not (source / name).is_file()]
    if missing:
        raise DataError(f"yahoo_r3: {', '.join(missing)} not found in {source}. {OBTAIN}")
    for name in (TRAIN_FILE, TEST_FILE):
        size = (source / name).stat().st_size
        if check_size and size != KNOWN_SIZES[name]:
            raise DataError(
                f"yahoo_r3: {source / name} has {size:,} bytes, the distributed file has {KNOWN_SIZES[name]:,}; "
                "if it is a faithful copy (e.g. other line endings), import it with check_size=False"
            )
        read_ratings(source / name)
    return install_user_copies({name: source / name for name in (TRAIN_FILE, TEST_FILE)}, target)


def load_default(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    check_params(NAME, params, {})
    files = {**locate(), **{k: v for k, v in paths.items() if k in (TRAIN_FILE, TEST_FILE)}}
    train_t, test_t = read_ratings(files[TRAIN_FILE]), read_ratings(files[TEST_FILE])
    n_users = int(max(train_t[:, 0].max(), test_t[:, 0].max()))
    n_items = int(max(train_t[:, 1].max(), test_t[:, 1].max()))
    counts = {"n_users": n_users, "n_items": n_items, "n_train": len(train_t), "n_test": len(test_t),
              "n_test_users": int(len(np.unique(test_t[:, 0])))}
    matches = counts == PUBLISHED
    if not matches:
        warnings.warn(f"yahoo_r3: the files differ from the published statistics {PUBLISHED}: {counts}", stacklevel=2)
    return Dataset(
        name=NAME,
        train=_split(train_t, n_items),
        test=_split(test_t, n_items),
        task="ratings",
        feature_names=["user", "item"],
        class_names=["1", "2", "3", "4", "5"],
        meta={
            "n_users": n_users,
            "n_items": n_items,
            "label_threshold": 3,
            "ranking_k": 5,
            "counts": counts,
            "matches_published_counts": matches,
            "files": {name: sha256_file(path) for name, path in files.items()},
            "reconstructed": False,
            "index": f"user * {n_items} + item (0-based)",
            "notes": [
                "X = (user, song) ids converted from the files' 1-based ids to 0-based; y = rating 1..5",
                "train: user-selected ratings (biased, MNAR); test: ratings of 10 random songs per user (unbiased)",
                "ULTD binarises at rating >= 3 and uses K = 5 (label_threshold / ranking_k)",
            ],
        },
    )


register_dataset(
    SOURCE,
    variants={"default": load_default},
    variant_notes={"default": "user-selected ratings as train, random-song ratings as test (user-supplied files)"},
)
