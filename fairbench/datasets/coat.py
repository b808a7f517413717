"""Coat shopping ratings (Schnabel et al., ICML 2016): 290 users x 300 items, ratings 1-5.

The original source is the Cornell page https://www.cs.cornell.edu/~schnabts/mnar/ (a tarball);
the canonical per-file URLs used here are the raw files of GitHub DongHande/AutoDebias
``datasets/coat`` (MIT-licensed repository, byte-identical to the benchmark mirror).

``default`` (task ``ratings``):

* ``train``: the 6,960 self-selected (biased, MNAR) ratings of ``train.ascii``; ``X`` = (n, 2)
  int64 ``(user, item)`` 0-based ids, ``y`` = rating 1..5 (int64), ``index`` = ``user * 300 + item``;
* ``test``: the 4,640 randomly-selected (unbiased, MAR) ratings of ``test.ascii``, same layout;
* ``extra["propensities"]``: Split with X = (290, 300) float64 propensity matrix, y = user ids;
* ``extra["user_features"]`` / ``extra["item_features"]``: one-hot features, y = ids; their column
  names are ``meta["user_feature_names"]`` / ``meta["item_feature_names"]``.

Pairs are listed in row-major (user, item) order. Splitting the unbiased ratings (5/5/90 %) is the
protocol's job (ultd.md §4.1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import FairbenchError
from ._preprocessing import check_params
from .base import DataFile, Dataset, DatasetSource, Split
from .registry import register_dataset

# Original: https://www.cs.cornell.edu/~schnabts/mnar/ ; per-file copies: AutoDebias (MIT).
_BASE = "https://raw.githubusercontent.com/DongHande/AutoDebias/HEAD/datasets/coat/"

_FILES = {
    "README.txt": ("cda6f0f12aa148f5391561ef95a5f2dd6f7e3838ec17e84fcb615bc11a7ffae0", 184),
    "train.ascii": ("a87bd9e7eaf3b89f976df3f25d4aa5d5d871be8a00b58947df9e6e015559bd37", 174_290),
    "test.ascii": ("de6714ab105a5e0be8166be7fd313901b29f9a09c3bea307901457d1d71847e6", 174_290),
    "propensities.ascii": ("a72e3142a413623c4a6b9d20c4f70fcc017e0db67cc3eb242116f69fb8fb9661", 2_175_000),
    "user.txt": ("e2196cbdc56025e733e6eb812042ac05c9f3335f04fb6c50f230b9df87de6c2f", 64_521),
    "random.txt": ("37fefc35e0104e9fff703114102083cdf59398484f70760bfd4baa0af22af952", 42_968),
    "user_item_features/user_features.ascii": ("d8f9531b601c54a7272602f8b21fa6cb4652cbf122e35d8615ea9645ebbf1b1f", 8_410),
    "user_item_features/user_features_map.txt": ("3b8c825ad4445d4a46a400629c5fb43c805ff5a7982b2e436b69e7262c8a013a", 211),
    "user_item_features/item_features.ascii": ("edea8217ec5606779b4d3bf819f7591dc63bcd5194d619e8048c2322d07630b1", 20_100),
    "user_item_features/item_features_map.txt": ("2675dfaa38b89a9cbb1997f0cfcd46ed7e0e366dc515d12d95508d1f356e5d25", 498),
}

SOURCE = DatasetSource(
    name="coat",
    files=tuple(DataFile(name, (digest,), urls=(_BASE + name,), size=size) for name, (digest, size) in _FILES.items()),
    licence="not stated on the original page; files taken from the MIT-licensed DongHande/AutoDebias repository",
    citation=(
        "Schnabel, T., Swaminathan, A., Singh, A., Chandak, N. & Joachims, T. (2016). Recommendations as Treatments: "
        "Debiasing Learning and Evaluation. ICML. arXiv:1602.05352"
    ),
    homepage="https://www.cs.cornell.edu/~schnabts/mnar/",
    description="290 users x 300 coats: 6,960 self-selected (MNAR) and 4,640 random (MAR) ratings, propensities, features.",
)

N_USERS, N_ITEMS = 290, 300


def _matrix(path: Path, shape: tuple[int, int], dtype) -> np.ndarray:
    matrix = np.loadtxt(path, dtype=dtype)
    if matrix.shape != shape:
        raise FairbenchError(f"coat: {path.name} has shape {matrix.shape}, expected {shape}")
    return matrix


def _ratings(matrix: np.ndarray) -> Split:
    users, items = np.nonzero(matrix)
    X = np.column_stack([users, items]).astype(np.int64)
    y = matrix[users, items].astype(np.int64)
    return Split(X=X, y=y, s=None, index=(users * N_ITEMS + items).astype(np.int64))


def _feature_names(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_default(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    check_params("coat", params, {})
    train = _ratings(_matrix(paths["train.ascii"], (N_USERS, N_ITEMS), np.int64))
    test = _ratings(_matrix(paths["test.ascii"], (N_USERS, N_ITEMS), np.int64))
    if len(train) != 6960 or len(test) != 4640:
        raise FairbenchError(f"coat: expected 6,960 / 4,640 ratings, found {len(train)} / {len(test)}")
    prop = _matrix(paths["propensities.ascii"], (N_USERS, N_ITEMS), np.float64)
    user_f = np.loadtxt(paths["user_item_features/user_features.ascii"], dtype=np.float64, ndmin=2)
    item_f = np.loadtxt(paths["user_item_features/item_features.ascii"], dtype=np.float64, ndmin=2)
    user_names = _feature_names(paths["user_item_features/user_features_map.txt"])
    item_names = _feature_names(paths["user_item_features/item_features_map.txt"])
    if user_f.shape != (N_USERS, len(user_names)) or item_f.shape != (N_ITEMS, len(item_names)):
        raise FairbenchError(f"coat: feature matrices {user_f.shape} / {item_f.shape} do not match their maps")
    return Dataset(
        name="coat",
        train=train,
        test=test,
        task="ratings",
        feature_names=["user", "item"],
        class_names=["1", "2", "3", "4", "5"],
        extra={
            "propensities": Split(X=prop, y=np.arange(N_USERS, dtype=np.int64)),
            "user_features": Split(X=user_f, y=np.arange(N_USERS, dtype=np.int64)),
            "item_features": Split(X=item_f, y=np.arange(N_ITEMS, dtype=np.int64)),
        },
        meta={
            "n_users": N_USERS,
            "n_items": N_ITEMS,
            "split": "biased train.ascii (self-selected, MNAR) = train; unbiased test.ascii (random, MAR) = test",
            "reconstructed": False,
            "user_feature_names": user_names,
            "item_feature_names": item_names,
            "index": "user * 300 + item (0-based)",
            "notes": [
                "X = (user, item) 0-based int64 ids in row-major order; y = rating 1..5",
                "train: 6,960 biased ratings (24 per user); test: 4,640 unbiased ratings (16 per user)",
                "extra: propensities (290 x 300, estimated by the dataset authors), one-hot user / item features",
                "the 5/5/90 % split of the unbiased ratings (ultd.md §4.1) and the rating binarisation belong to the protocol",
            ],
        },
    )


register_dataset(
    SOURCE,
    variants={"default": load_default},
    variant_notes={"default": "biased ratings as train, unbiased ratings as test; propensities and features in extra"},
)
