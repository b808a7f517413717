"""What the cobum bias variants share (``cifar10@cobum``, ``cub200@cobum``, ``celeba@cobum`` and the
Fashion-MNIST mini analogues ``fashion_mnist@cobum-scale`` / ``-patch`` / ``-tint``).

Interface every one of them gives (cobum.md §2, §4.1):

- ``train.s`` / ``test.s`` (and ``extra["validation"].s`` where there is a validation split): int64 codes
  of the bias group (pose bin, patched 0/1, sensitive attribute), the groups the DP / EO gaps compare;
- ``dataset.group_names`` = ``meta["fairness"]["groups"]`` ({code: name}); ``meta["fairness"]`` =
  ``{"bias": "pose" | "patch" | "attribute", "target_class": int or None, "groups": {...}, ...}`` where
  ``target_class`` is, for ``patch``, the class whose test images the gaps are restricted to (cobum.md
  §4.1 CIFAR-10) and, for ``attribute``, the class whose rate / TPR / FPR the gaps compare (CelebA:
  1 = Smiling); ``None`` for ``pose`` (gaps averaged over all classes);
- ``meta["patch"]`` = ``{"row", "col", "size", "color"}`` for patch variants (so a counterfactual can mask it);
- ``meta["pose_bins"]`` for pose variants (what the bins are and how they were cut).

The paper's "standard 70-10-20" split is drawn here as cobum.md §6.12 recommends: all images pooled, each
class's rows shuffled by ``numpy.random.default_rng(SPLIT_SEED)`` and cut 70 / 10 / 20 % (rounded
half to even per class); the split depends on the files only, never on a run's seed, and
``meta["split_sha256"]`` identifies it (sha256 of the three sorted row-id arrays). Which rows carry a
synthetic bias (a patch, a shrunk image, a tint) is drawn from a second fixed stream, ``BIAS_SEED``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..core.errors import DataError
from ._images import image_dataset
from .base import Dataset, Split

SPLIT_SEED = 0
BIAS_SEED = 1  # the stream that picks the rows a synthetic bias is applied to
SPLIT_SHARES = (0.7, 0.1, 0.2)
SPLIT_NAMES = ("train", "validation", "test")
POOLED_SPLIT = "pooled, class-stratified 70/10/20 (cobum.md 6.12), split seed 0"


def pooled_split(y: np.ndarray, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Sorted row ids of ``train`` / ``validation`` / ``test``: each class's rows shuffled and cut 70 / 10 / 20 %."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_NAMES}
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        n_train = round(SPLIT_SHARES[0] * len(rows))
        n_validation = round(SPLIT_SHARES[1] * len(rows))
        for name, part in zip(SPLIT_NAMES, np.split(rows, [n_train, n_train + n_validation])):
            parts[name].append(part)
    return {name: np.sort(np.concatenate(chunks)).astype(np.int64) for name, chunks in parts.items()}


def split_digest(rows: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in SPLIT_NAMES:
        digest.update(np.ascontiguousarray(rows[name], dtype=np.int64).tobytes())
    return digest.hexdigest()


def pick_fraction(rng: np.random.Generator, rows: np.ndarray, fraction: float) -> np.ndarray:
    """``round(fraction * len(rows))`` of ``rows``, without replacement, sorted."""
    m = round(fraction * len(rows))
    return np.sort(rng.choice(np.asarray(rows, dtype=np.int64), size=m, replace=False)).astype(np.int64)


def check_share(dataset: str, name: str, value: object) -> float:
    """A dataset parameter that is a share of rows, in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise DataError(f"{dataset}: {name} must be a number in (0, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Patch:
    """A solid square stamped on channels-last RGB images: rows ``row..row+size``, columns ``col..col+size``."""

    row: int = 0
    col: int = 0
    size: int = 4
    color: tuple[int, int, int] = (255, 0, 0)

    def stamp(self, images: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """A copy of ``images`` (n, H, W, 3) with the patch on ``rows``."""
        if images.ndim != 4 or images.shape[3] != 3:
            raise DataError(f"a patch is stamped on (n, H, W, 3) images, got {images.shape}")
        out = images.copy()
        out[rows, self.row:self.row + self.size, self.col:self.col + self.size] = np.asarray(self.color, np.uint8)
        return out

    def meta(self) -> dict:
        return {"row": self.row, "col": self.col, "size": self.size, "color": list(self.color)}


RED_PATCH = Patch()  # cobum.md 2.3: pure red, 4x4 px, top-left corner of the 32x32 image


def stamp_class(split: Split, target_class: int, fraction: float, patch: Patch, rng: np.random.Generator) -> Split:
    """``split`` with ``patch`` on ``fraction`` of its rows of ``target_class`` (drawn by ``rng``) and
    ``s`` = 1 on those rows, 0 elsewhere."""
    patched = np.zeros(len(split), dtype=np.int64)
    patched[pick_fraction(rng, np.flatnonzero(split.y == target_class), fraction)] = 1
    return Split(X=patch.stamp(split.X, patched.astype(bool)), y=split.y, s=patched, index=split.index)


def with_groups(split: Split, groups: np.ndarray) -> Split:
    return Split(X=split.X, y=split.y, s=np.asarray(groups, dtype=np.int64), index=split.index)


def bias_dataset(
    name: str,
    splits: dict[str, Split],
    class_names: Sequence[str],
    class_concepts: Sequence[int],
    concept_names: Sequence[str],
    *,
    fairness: dict,
    sensitive: str,
    meta: dict,
    extra: dict[str, Split] | None = None,
) -> Dataset:
    """An image dataset (:func:`._images.image_dataset`) whose splits carry the bias group in ``s``;
    ``splits`` holds ``train`` and ``test`` and, where there is one, ``validation`` (-> ``extra``)."""
    for which, split in splits.items():
        if split.s is None or split.s.dtype != np.int64 or len(split.s) != len(split.y):
            raise DataError(f"{name}: the {which} split must carry one int64 bias group per row in s")
    groups = {int(code): str(label) for code, label in fairness["groups"].items()}
    more = dict(extra or {})
    if "validation" in splits:
        more["validation"] = splits["validation"]
    dataset = image_dataset(name, splits["train"], splits["test"], class_names, class_concepts, concept_names,
                            meta={**meta, "fairness": {**fairness, "groups": groups}}, extra=more)
    dataset.group_names = groups
    dataset.sensitive_names = [sensitive]
    return dataset
