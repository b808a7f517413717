"""Vision deletion protocols of cobum: ``pose`` (CUB-200 pose bins, section 2.2) and ``patch``
(CIFAR-10 red-patch bias, section 2.3).

They need per-training-row annotations that a loader provides in ``dataset.extra``:

- ``extra["pose"]``: a Split whose ``y`` holds each training row's pose bin
  (0 = close-up, 1 = mid-range, 2 = distant; tertiles of the normalised bounding-box area);
- ``extra["patched"]``: a Split whose ``y`` is 1 where the training row carries the red patch.

A dataset without the array raises FairbenchError. Fractions here are in (0, 1] (1 = the whole
bin / all patched rows, the paper setting). Same conventions as :mod:`.tabular` otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import FairbenchError
from ..datasets.base import Dataset
from .base import Deletion
from .tabular import check_fraction, class_name, draw, finish, n_of, protocol, resolve_class

POSE_BINS = {"close-up": 0, "closeup": 0, "mid-range": 1, "midrange": 1, "distant": 2}


def _annotation(name: str, dataset: Dataset, key: str, what: str) -> np.ndarray:
    split = dataset.extra.get(key)
    if split is None:
        raise FairbenchError(
            f"protocol '{name}': dataset '{dataset.name}' does not provide {what} annotations "
            f"(dataset.extra['{key}'])"
        )
    a = np.asarray(split.y)
    if a.ndim != 1 or len(a) != len(dataset.train):
        raise FairbenchError(
            f"protocol '{name}': dataset '{dataset.name}' has {what} annotations of shape {a.shape}, "
            f"expected one per training row ({len(dataset.train)})"
        )
    return a


@protocol(
    "pose",
    "a fraction of the training rows in one pose bin (cobum CUB-200: bin 2 = distant -> D_f)",
    {
        "pose_bin": "pose bin to forget: 0 | close-up, 1 | mid-range, 2 | distant (default 2)",
        "fraction": "share of that bin's training rows to forget, in (0, 1] (default 1 = the whole bin)",
    },
)
def pose(dataset: Dataset, seed: int, *, pose_bin=2, fraction=1.0) -> Deletion:
    f = check_fraction("pose", fraction, allow_one=True)
    bins = _annotation("pose", dataset, "pose", "pose").astype(np.int64)
    b: Any = pose_bin
    if isinstance(b, str):
        key = b.strip().lower()
        b = POSE_BINS.get(key, int(key) if key.lstrip("-").isdigit() else None)
    if b is None or isinstance(b, bool) or not isinstance(b, (int, np.integer)) or int(b) not in set(bins.tolist()):
        raise FairbenchError(
            f"protocol 'pose': unknown pose bin {pose_bin!r}; bins present: {sorted(set(bins.tolist()))} "
            "(0 close-up, 1 mid-range, 2 distant)"
        )
    b = int(b)
    pool = np.flatnonzero(bins == b)
    rng = np.random.default_rng(seed)
    forget = draw(rng, pool, n_of(f, len(pool)))
    return finish(dataset, forget, "pose", seed, pose_bin=b, fraction=f, fraction_of="pose_bin",
                  n_bin=int(len(pool)))


@protocol(
    "patch",
    "a fraction of the patched training rows, optionally of one class (cobum CIFAR-10: patched birds -> D_f)",
    {
        "fraction": "share of the patched rows to forget, in (0, 1] (default 1 = all of them)",
        "target_class": "restrict to patched rows of this class (label or name); default: all patched rows",
    },
)
def patch(dataset: Dataset, seed: int, *, fraction=1.0, target_class=None) -> Deletion:
    f = check_fraction("patch", fraction, allow_one=True)
    patched = _annotation("patch", dataset, "patched", "patch")
    if not np.all(np.isin(patched, (0, 1))):
        raise FairbenchError(f"protocol 'patch': dataset '{dataset.name}' has non-binary patch annotations")
    mask = patched.astype(bool)
    code = None
    if target_class is not None:
        code = resolve_class("patch", dataset, target_class)
        mask &= dataset.train.y == code
    pool = np.flatnonzero(mask)
    if len(pool) == 0:
        where = "" if code is None else f" of class {code}"
        raise FairbenchError(f"protocol 'patch': dataset '{dataset.name}' has no patched training rows{where}")
    rng = np.random.default_rng(seed)
    forget = draw(rng, pool, n_of(f, len(pool)))
    return finish(
        dataset, forget, "patch", seed, fraction=f,
        fraction_of="patched" if code is None else "patched_class",
        target_class=code, class_name=None if code is None else class_name(dataset, code), n_patched=int(len(pool)),
    )
