"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009), from the python archives torchvision's ``CIFAR10`` / ``CIFAR100`` use.

Files: ``cifar-10-python.tar.gz`` (members ``cifar-10-batches-py/data_batch_1..5``, ``test_batch``,
``batches.meta``) and ``cifar-100-python.tar.gz`` (``cifar-100-python/train``, ``test``, ``meta``),
from https://www.cs.toronto.edu/~kriz/. The publisher and torchvision give md5 checksums only, so
the archives are pinned by md5 (torchvision's ``tgz_md5``, the values also listed in
``shared/data/SOURCES.md``); no sha256 is published. The members are read from the archive without
extracting it, after the archive's member list is checked (:mod:`.archives`), and unpickled by
:func:`._images.restricted_unpickle` (numpy arrays, lists, dicts, strings only: a pickle cannot run
code). The decoded arrays are cached once per archive checksum (``decoded-<md5>.npz``).

Both follow the image interface of :mod:`._images`: ``X`` uint8 ``(n, 32, 32, 3)`` channels-last,
``y`` int64, the official 50,000 / 10,000 split, ``index`` = position in the file order (training
batches concatenated in order for CIFAR-10).

- ``cifar100``: ``y`` = the fine label (100 classes); concepts = the 20 super-classes of the files'
  ``coarse_labels`` (cfdebias.md §2.1: "provided super-classes"); Rabbit = fine label 65, in
  super-class 16 (small_mammals). The fine -> coarse map is read from the files and must be a function.
- ``cifar10``: 10 classes; concepts = fairbench's own grouping vehicle (airplane, automobile, ship,
  truck) / animal (the other six), not from a paper.

Parameter ``limit_per_class`` (int, optional): the first ``k`` images of each class in each split.

``cifar10@cobum`` (cobum.md 2.3, 6.7, 6.12): the 60,000 images pooled and split 70/10/20 per class
(:mod:`._cobum`); the red (255, 0, 0) 4x4 patch at the top-left of the 32x32 image on ``patch_fraction``
(default 0.9) of the birds (class 2) of the training, validation and test splits; ``s`` = patched 0/1,
``extra["patched"]`` / ``extra["patched_test"]`` the same per row for the ``patch`` protocol,
``meta["patch"]`` where the patch is, ``meta["fairness"]`` restricts the DP / EO gaps to the test birds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import DataError
from ._cobum import (BIAS_SEED, POOLED_SPLIT, RED_PATCH, SPLIT_NAMES, bias_dataset, check_share, pooled_split,
                     split_digest, stamp_class)
from ._images import annotation, cached_arrays, check_limit, image_dataset, limit_rows, restricted_unpickle
from ._preprocessing import check_params
from .archives import read_tar_members
from .base import DataFile, Dataset, DatasetSource, Split
from .download import file_digest
from .registry import register_dataset

_KRIZ = "https://www.cs.toronto.edu/~kriz/"
_CITATION = "Krizhevsky, A. (2009). Learning Multiple Layers of Features from Tiny Images. Technical report, University of Toronto."
_LICENCE = "none stated by the publisher"
_HOMEPAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
IMAGE_SIDE = 32
RABBIT = 65  # cifar100 fine label of "rabbit" (cfdebias Figure 6)
BIRD = 2  # cifar10 label of "bird", the class cobum patches (cobum.md 2.3)
DEFAULT_PATCH_FRACTION = 0.9  # cobum.md 6.7: unknown in the paper; most training birds must carry the patch


@dataclass(frozen=True)
class CifarLayout:
    """One CIFAR archive: its file and md5, the members of each split and the meta member's name keys."""

    dataset: str
    archive: str
    md5: str
    size: int
    train_members: tuple[str, ...]
    test_members: tuple[str, ...]
    meta_member: str
    label_key: str  # the per-row label list in a batch
    names_key: str  # the class names in the meta member
    coarse_key: str | None = None  # the per-row super-class list in a batch (CIFAR-100's concepts)
    coarse_names_key: str | None = None  # the super-class names in the meta member

    def obtain_note(self) -> str:
        return (f"get {_KRIZ}{self.archive} ({self.size / 1e6:.0f} MB; `fairbench download {self.dataset}` fetches "
                f"it when FAIRBENCH_OFFLINE is unset) or, with the archive in a folder DIR, run "
                f"`fairbench download {self.dataset} --from DIR`")

    def data_file(self) -> DataFile:
        return DataFile(self.archive, (), urls=(_KRIZ + self.archive,), size=self.size, md5=(self.md5,))

CIFAR10 = CifarLayout(
    dataset="cifar10", archive="cifar-10-python.tar.gz", md5="c58f30108f718f92721af3b95e74349a", size=170_498_071,
    train_members=tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
    test_members=("cifar-10-batches-py/test_batch",), meta_member="cifar-10-batches-py/batches.meta",
    label_key="labels", names_key="label_names",
)
CIFAR100 = CifarLayout(
    dataset="cifar100", archive="cifar-100-python.tar.gz", md5="eb9058c3a382ffc7106e4002c42a8d85", size=169_001_437,
    train_members=("cifar-100-python/train",), test_members=("cifar-100-python/test",),
    meta_member="cifar-100-python/meta", label_key="fine_labels", names_key="fine_label_names",
    coarse_key="coarse_labels", coarse_names_key="coarse_label_names",
)
CIFAR10_CONCEPTS = ("vehicle", "animal")
_CIFAR10_VEHICLES = {"airplane", "automobile", "ship", "truck"}


def _field(batch: object, key: str, member: str) -> object:
    if not isinstance(batch, dict):
        raise DataError(f"{member}: expected a dict, found {type(batch).__name__}")
    for candidate in (key, key.encode()):  # Python 2 pickles read as latin-1 have str keys; others may have bytes
        if candidate in batch:
            return batch[candidate]
    raise DataError(f"{member}: lacks the field {key!r}")


def _labels(batch: object, key: str, member: str, n: int) -> np.ndarray:
    labels = np.asarray(_field(batch, key, member))
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise DataError(f"{member}: {key} must be {n} integers, found {labels.dtype} {labels.shape}")
    return labels.astype(np.int64)


def _pixels(batch: object, member: str) -> np.ndarray:
    data = _field(batch, "data", member)
    side = IMAGE_SIDE * IMAGE_SIDE
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * side:
        raise DataError(f"{member}: data must be a uint8 array of shape (n, {3 * side})")
    # rows are 1024 red, 1024 green, 1024 blue values, each plane row-major: to (n, 32, 32, 3)
    return data.reshape(-1, 3, IMAGE_SIDE, IMAGE_SIDE).transpose(0, 2, 3, 1).copy()


def _names(meta: object, key: str, member: str) -> list[str]:
    names = _field(meta, key, member)
    if not isinstance(names, list) or not all(isinstance(n, (str, bytes)) for n in names):
        raise DataError(f"{member}: {key} must be a list of names")
    return [n.decode() if isinstance(n, bytes) else n for n in names]


def decode_archive(layout: CifarLayout, archive: Path) -> dict[str, np.ndarray]:
    """Images, labels (and CIFAR-100's coarse labels) of both splits and the class names, as plain arrays."""
    wanted = (*layout.train_members, *layout.test_members, layout.meta_member)
    raw = read_tar_members(archive, wanted)
    out: dict[str, np.ndarray] = {}
    for split, members in (("train", layout.train_members), ("test", layout.test_members)):
        images, labels, coarse = [], [], []
        for member in members:
            batch = restricted_unpickle(raw[member], f"{layout.archive}:{member}")
            images.append(_pixels(batch, member))
            labels.append(_labels(batch, layout.label_key, member, len(images[-1])))
            if layout.coarse_key:
                coarse.append(_labels(batch, layout.coarse_key, member, len(images[-1])))
        out[f"{split}_X"], out[f"{split}_y"] = np.concatenate(images), np.concatenate(labels)
        if coarse:
            out[f"{split}_coarse"] = np.concatenate(coarse)
    meta = restricted_unpickle(raw[layout.meta_member], f"{layout.archive}:{layout.meta_member}")
    out["class_names"] = np.array(_names(meta, layout.names_key, layout.meta_member))
    if layout.coarse_names_key:
        out["concept_names"] = np.array(_names(meta, layout.coarse_names_key, layout.meta_member))
    return out


def fine_to_coarse(fine: np.ndarray, coarse: np.ndarray, n_classes: int, where: str) -> list[int]:
    """The super-class of every fine class, read from labelled rows; every class must have exactly one."""
    mapping = [-1] * n_classes
    pairs = np.unique(np.stack([fine, coarse], axis=1), axis=0)
    for f, c in pairs:
        if mapping[f] != -1:
            raise DataError(f"{where}: fine class {f} appears with more than one coarse label")
        mapping[f] = int(c)
    absent = [f for f, c in enumerate(mapping) if c == -1]
    if absent:
        raise DataError(f"{where}: fine class(es) {absent[:5]} have no rows, so no coarse label")
    return mapping


def _decoded(layout: CifarLayout, paths: dict[str, Path]) -> dict[str, np.ndarray]:
    """The archive's arrays, from the decoded-array cache (decoded on first use)."""
    archive = paths[layout.archive]
    digest = file_digest(archive, layout.data_file())  # memoised: the download check computed it
    return cached_arrays(layout.dataset, digest, ("train_X", "train_y", "test_X", "test_y", "class_names"),
                         lambda: decode_archive(layout, archive), f"{layout.archive} (md5 {digest})")


def _cifar10_concepts(class_names: list[str]) -> list[int]:
    return [0 if name in _CIFAR10_VEHICLES else 1 for name in class_names]


def _load(layout: CifarLayout, paths: dict[str, Path], params: dict) -> Dataset:
    opts = check_params(layout.dataset, params, {"limit_per_class": None})
    limit = check_limit(layout.dataset, opts["limit_per_class"])
    arrays = _decoded(layout, paths)
    class_names = [str(n) for n in arrays["class_names"]]
    files_have_concepts = layout.coarse_key is not None
    if files_have_concepts:
        concept_names = [str(n) for n in arrays["concept_names"]]
        class_concepts = fine_to_coarse(np.concatenate([arrays["train_y"], arrays["test_y"]]),
                                        np.concatenate([arrays["train_coarse"], arrays["test_coarse"]]),
                                        len(class_names), layout.archive)
    else:
        concept_names = list(CIFAR10_CONCEPTS)
        class_concepts = _cifar10_concepts(class_names)
    splits = {}
    for split in ("train", "test"):
        y = arrays[f"{split}_y"]
        splits[split] = limit_rows(Split(X=arrays[f"{split}_X"], y=y, index=np.arange(len(y), dtype=np.int64)),
                                   limit, len(class_names))
    notes = ["official train / test files; X uint8 (n, 32, 32, 3) channels-last, y int64"]
    if limit is not None:
        notes.append(f"limit_per_class={limit}: first {limit} images of each class kept in each split (file order)")
    return image_dataset(
        layout.dataset, splits["train"], splits["test"], class_names, class_concepts, concept_names,
        meta={"split": "official train / test", "reconstructed": False, "limit_per_class": limit,
              "concepts_from": "the files' coarse_labels (20 super-classes)" if files_have_concepts
              else "fairbench's grouping: vehicle / animal", "notes": notes},
    )


def load_cifar10_cobum(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    """cobum's CIFAR-10 (cobum.md 2.3): the 60,000 images pooled and split 70/10/20 by class; the red patch
    on ``patch_fraction`` of the birds of every split; ``s`` = patched (1) or not (0)."""
    opts = check_params("cifar10", params, {"patch_fraction": DEFAULT_PATCH_FRACTION, "limit_per_class": None})
    fraction = check_share("cifar10", "patch_fraction", opts["patch_fraction"])
    limit = check_limit("cifar10", opts["limit_per_class"])
    arrays = _decoded(CIFAR10, paths)
    class_names = [str(n) for n in arrays["class_names"]]
    if len(class_names) != 10 or class_names[BIRD] != "bird":
        raise DataError(f"{CIFAR10.archive}: class {BIRD} must be 'bird' (batches.meta lists {class_names[:4]}...)")
    # pooled row ids: the 50,000 training rows in file order, then the 10,000 test rows
    X = np.concatenate([arrays["train_X"], arrays["test_X"]])
    y = np.concatenate([arrays["train_y"], arrays["test_y"]])
    rows = pooled_split(y)
    rng = np.random.default_rng(BIAS_SEED)
    splits = {name: stamp_class(limit_rows(Split(X=X[rows[name]], y=y[rows[name]], index=rows[name]), limit, 10),
                                BIRD, fraction, RED_PATCH, rng)
              for name in SPLIT_NAMES}
    notes = [f"{POOLED_SPLIT} of the 60,000 images (index: training file rows 0..49999, then test rows 50000..)",
             f"red 4x4 patch at the top-left of {fraction:g} of the birds of each split (cobum.md 2.3; the paper's "
             "X is unknown, 6.7: the default 0.9 keeps most training birds patched, which Hard Unlearning's FA of "
             "14.1 requires; calibrate with patch_fraction)"]
    if limit is not None:
        notes.append(f"limit_per_class={limit}: first {limit} images of each class kept in each split")
    return bias_dataset(
        "cifar10", splits, class_names, _cifar10_concepts(class_names), list(CIFAR10_CONCEPTS),
        fairness={"bias": "patch", "target_class": BIRD, "groups": {0: "unpatched", 1: "patched"},
                  "gaps_on": "test images of class 2 (bird), patched vs unpatched (cobum.md 4.1)"},
        sensitive="patched",
        meta={"split": POOLED_SPLIT, "split_sha256": split_digest(rows), "reconstructed": True,
              "patch": RED_PATCH.meta(), "patch_fraction": fraction, "patched_class": BIRD, "limit_per_class": limit,
              "concepts_from": "fairbench's grouping: vehicle / animal", "notes": notes},
        extra={"patched": annotation(splits["train"], splits["train"].s),
               "patched_test": annotation(splits["test"], splits["test"].s)},
    )


def load_cifar100(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    return _load(CIFAR100, paths, params)


def load_cifar10(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    return _load(CIFAR10, paths, params)


# Sources written out with their literal names: the plan-time catalog reads them without importing this module.
CIFAR100_SOURCE = DatasetSource(
    name="cifar100", files=(CIFAR100.data_file(),), licence=_LICENCE, citation=_CITATION, homepage=_HOMEPAGE,
    description="60,000 32x32 colour images, 100 classes in 20 super-classes (50,000 train / 10,000 test).",
    obtain_note=CIFAR100.obtain_note())
CIFAR10_SOURCE = DatasetSource(
    name="cifar10", files=(CIFAR10.data_file(),), licence=_LICENCE, citation=_CITATION, homepage=_HOMEPAGE,
    description="60,000 32x32 colour images, 10 classes (50,000 train / 10,000 test).", obtain_note=CIFAR10.obtain_note())

register_dataset(CIFAR100_SOURCE, variants={"default": load_cifar100}, variant_notes={
    "default": "official split, uint8 32x32x3; concepts = the 20 super-classes; limit_per_class=k"})
register_dataset(CIFAR10_SOURCE, variants={"default": load_cifar10, "cobum": load_cifar10_cobum}, variant_notes={
    "default": "official split, uint8 32x32x3; concepts vehicle / animal; limit_per_class=k",
    "cobum": "cobum.md 2.3: pooled class-stratified 70/10/20 split; red 4x4 patch (top-left) on patch_fraction "
             "(default 0.9) of the birds of every split; s = patched; limit_per_class=k"})
