"""Caltech-UCSD Birds-200-2011 (Wah et al. 2011): 11,788 images of 200 bird species.

File: ``CUB_200_2011.tgz`` from CaltechDATA (record 65de6-vp158; the older vision.caltech.edu URL as a
second source), pinned by the md5 the torchvision-style loaders use (``97eceeb196236b17998738112f37df78``,
TDeVries/cub2011_dataset and others; no sha256 is published). Members used, under ``CUB_200_2011/``:
``images.txt`` (image id, path), ``classes.txt`` (class id, folder name), ``image_class_labels.txt``,
``train_test_split.txt`` (1 = train), ``bounding_boxes.txt`` (image id, x, y, width, height in pixels
from the top-left corner) and ``images/<class folder>/<file>.jpg``.

The archive's member list is checked first (no absolute or ``..`` paths, no links or device files:
:func:`.archives.checked_tar_members`); the images are decoded with Pillow straight from the archive
(nothing of it is written to disk), converted to RGB and resized to ``image_size`` x ``image_size``
(bilinear, aspect ratio not kept), and cached once as uint8 arrays keyed by the archive's md5 and the
size (``decoded-<md5>-<size>.npz``, read with ``allow_pickle=False``).

``default``: the image interface of :mod:`._images`, ``X`` uint8 ``(n, S, S, 3)``, the official split of
``train_test_split.txt`` (5,994 / 5,794), ``y`` = class id - 1 (**Cardinal**, folder ``017.Cardinal``, is
label 16), ``index`` = image id - 1, ``class_names`` = the folder names of ``classes.txt``.

- Concepts: the 10 groups of the committed map ``cub200_concepts.json`` (:mod:`._cub_concepts` says how
  it was derived and how to re-derive it by cfdebias.md §2.2's confusion-matrix recipe); the loader refuses a ``classes.txt`` whose names differ from the map's.
- ``extra["pose"]`` / ``extra["pose_test"]``: per training / test row, ``X`` = the bounding box
  ``(x, y, width, height)`` in original pixels and ``y`` = the pose bin (cobum.md §2.2: normalised box
  area ``w*h / (W*H)`` of the original image; tertile cut points on the training split, stored in
  ``meta["pose_cuts"]``; 0 close-up (area >= upper cut), 1 mid-range, 2 distant (area < lower cut)),
  which the ``pose`` protocol reads.

Parameters: ``image_size`` (int, default 224), ``limit_per_class`` (int, optional).

``cub200@cobum`` (cobum.md 2.2, 6.9, 6.12): the same images and pose bins, but split as the paper's
"standard 70-10-20": all 11,788 images pooled and split per class (:mod:`._cobum`), the tertile cuts taken
on that training split; ``s`` = the pose bin on every split, ``meta["pose_bins"]`` says how the bins were
cut, ``meta["fairness"]`` names the three groups. The validation split is ``extra["validation"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import DataError
from ._images import cached_arrays, check_limit, check_side, decode_rgb, image_dataset, limit_rows
from ._preprocessing import check_params
from .archives import ArchiveLimits, iter_tar_files
from .base import DataFile, Dataset, DatasetSource, Split
from ._cobum import POOLED_SPLIT, bias_dataset, pooled_split, split_digest, with_groups
from ._cub_concepts import load_concepts
from .download import file_digest
from .registry import register_dataset

NAME = "cub200"
ARCHIVE = "CUB_200_2011.tgz"
MD5 = "97eceeb196236b17998738112f37df78"
URLS = (
    "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
    "http://www.vision.caltech.edu/visipedia-data/CUB-200-2011/CUB_200_2011.tgz",
)
ROOT = "CUB_200_2011/"
TEXT_FILES = ("images.txt", "classes.txt", "image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt")
CARDINAL = 16  # label of folder 017.Cardinal (class id 17 in classes.txt, 1-based)
DEFAULT_SIZE = 224
# 11,788 images in 200 folders plus parts/attributes files: more members than the default limit allows
LIMITS = ArchiveLimits(max_members=20_000, max_bytes=4 << 30)
POSE_NAMES = ("close-up", "mid-range", "distant")

DATA_FILE = DataFile(ARCHIVE, (), urls=URLS, md5=(MD5,))
SOURCE = DatasetSource(
    name=NAME,
    files=(DATA_FILE,),
    licence="research use only (images from Flickr; Caltech's terms)",
    citation=("Wah, C., Branson, S., Welinder, P., Perona, P. & Belongie, S. (2011). The Caltech-UCSD Birds-200-2011 "
              "Dataset. Technical report CNS-TR-2011-001, California Institute of Technology."),
    homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
    description="11,788 bird images, 200 species, bounding boxes; official split 5,994 train / 5,794 test.",
    obtain_note=(f"get {URLS[0]} (about 1.1 GB; `fairbench download {NAME}` fetches it when FAIRBENCH_OFFLINE is "
                 f"unset) or, with {ARCHIVE} in a folder DIR, run `fairbench download {NAME} --from DIR`"),
    approx_bytes=1_150_000_000,
)


@dataclass
class Metadata:
    """The text files, in image-id order (ids 1..n)."""

    paths: list[str]  # relative to images/
    labels: np.ndarray  # int64, class id - 1
    is_train: np.ndarray  # bool
    boxes: np.ndarray  # float64 (n, 4): x, y, width, height
    class_names: list[str]


def _rows(text: bytes, name: str, columns: int) -> list[list[str]]:
    rows = [line.split() for line in text.decode("utf-8").splitlines() if line.strip()]
    bad = next((i for i, row in enumerate(rows) if len(row) != columns), None)
    if bad is not None:
        raise DataError(f"{ARCHIVE}: {name} line {bad + 1} has {len(rows[bad])} fields, expected {columns}")
    return rows


def _by_id(rows: list[list[str]], name: str, n: int | None = None) -> list[list[str]]:
    """Rows ordered by their integer id, which must run 1..n."""
    try:
        ids = [int(row[0]) for row in rows]
    except ValueError:
        raise DataError(f"{ARCHIVE}: {name} has a non-integer id") from None
    if sorted(ids) != list(range(1, len(ids) + 1)) or (n is not None and len(ids) != n):
        raise DataError(f"{ARCHIVE}: {name} must list ids 1..{n or len(ids)} once each")
    order = np.argsort(ids)
    return [rows[i][1:] for i in order]


def parse_metadata(texts: dict[str, bytes]) -> Metadata:
    images = _by_id(_rows(texts["images.txt"], "images.txt", 2), "images.txt")
    n = len(images)
    classes = _by_id(_rows(texts["classes.txt"], "classes.txt", 2), "classes.txt")
    labels = _by_id(_rows(texts["image_class_labels.txt"], "image_class_labels.txt", 2), "image_class_labels.txt", n)
    split = _by_id(_rows(texts["train_test_split.txt"], "train_test_split.txt", 2), "train_test_split.txt", n)
    boxes = _by_id(_rows(texts["bounding_boxes.txt"], "bounding_boxes.txt", 5), "bounding_boxes.txt", n)
    try:
        y = np.array([int(row[0]) for row in labels], dtype=np.int64) - 1
        is_train = np.array([int(row[0]) for row in split], dtype=np.int64)
        box = np.array([[float(v) for v in row] for row in boxes], dtype=np.float64).reshape(n, 4)
    except ValueError as exc:
        raise DataError(f"{ARCHIVE}: a label, split flag or box is not a number ({exc})") from None
    if y.min(initial=0) < 0 or y.max(initial=0) >= len(classes) or not np.isin(is_train, (0, 1)).all():
        raise DataError(f"{ARCHIVE}: class ids must be in 1..{len(classes)} and split flags 0 or 1")
    if (box[:, 2:] <= 0).any():
        raise DataError(f"{ARCHIVE}: bounding_boxes.txt has a box without area")
    return Metadata([row[0] for row in images], y, is_train.astype(bool), box, [row[0] for row in classes])


def decode_archive(archive: Path, size: int) -> dict[str, np.ndarray]:
    """One pass over the archive: the text files and every image, decoded and resized; arrays in image-id order."""
    texts: dict[str, bytes] = {}
    decoded: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}
    images = ROOT + "images/"
    keep = lambda name: name.startswith(images) or name[len(ROOT):] in TEXT_FILES  # noqa: E731
    for member, data in iter_tar_files(archive, keep, LIMITS):
        if member.startswith(images):
            decoded[member[len(images):]] = decode_rgb(data, f"{ARCHIVE}: {member}", size)
        else:
            texts[member[len(ROOT):]] = data
    missing = [ROOT + name for name in TEXT_FILES if name not in texts]
    if missing:
        raise DataError(f"{archive} lacks {', '.join(missing)}")
    meta = parse_metadata(texts)
    absent = [path for path in meta.paths if path not in decoded]
    if absent:
        raise DataError(f"{archive} lacks {len(absent)} image(s) listed in images.txt, e.g. {images}{absent[0]}")
    X = np.empty((len(meta.paths), size, size, 3), dtype=np.uint8)
    original = np.empty((len(meta.paths), 2), dtype=np.int64)
    for row, path in enumerate(meta.paths):
        X[row], original[row] = decoded.pop(path)
    return {"X": X, "y": meta.labels, "is_train": meta.is_train, "boxes": meta.boxes, "original_size": original,
            "class_names": np.array(meta.class_names)}


def pose_bins(area: np.ndarray, cuts: tuple[float, float]) -> np.ndarray:
    """0 close-up (area >= upper cut), 1 mid-range, 2 distant (area < lower cut)."""
    lower, upper = cuts
    return np.where(area >= upper, 0, np.where(area >= lower, 1, 2)).astype(np.int64)


@dataclass
class Decoded:
    """The decoded archive: images, labels, official split flags, boxes and each box's normalised area."""

    size: int
    limit: int | None
    arrays: dict[str, np.ndarray]
    class_names: list[str]
    area: np.ndarray  # w * h / (W * H) of the original image, per image id - 1


def _decoded(paths: dict[str, Path], params: dict) -> Decoded:
    opts = check_params(NAME, params, {"image_size": DEFAULT_SIZE, "limit_per_class": None})
    size = check_side(NAME, "image_size", opts["image_size"])
    limit = check_limit(NAME, opts["limit_per_class"])
    archive = paths[ARCHIVE]
    digest = file_digest(archive, DATA_FILE)  # memoised: the download check computed it
    arrays = cached_arrays(NAME, f"{digest}-{size}", ("X", "y", "is_train", "boxes", "original_size", "class_names"),
                           lambda: decode_archive(archive, size), f"{ARCHIVE} (md5 {digest}), resized to {size}x{size}")
    class_names = [str(n) for n in arrays["class_names"]]
    if class_names != load_concepts().class_names:
        raise DataError(f"{NAME}: classes.txt of {archive} does not list the 200 classes of the concept map "
                        f"({load_concepts().path.name}); is it the CUB-200-2011 archive?")
    width, height = arrays["original_size"][:, 0], arrays["original_size"][:, 1]
    area = arrays["boxes"][:, 2] * arrays["boxes"][:, 3] / (width * height)
    return Decoded(size, limit, arrays, class_names, area)


def _pose_splits(decoded: Decoded, members: dict[str, np.ndarray]) -> tuple[dict[str, Split], np.ndarray, tuple]:
    """The splits (image ids - 1 of each in ``members``, the first being the training split), limited per class;
    the pose bin of every image, by tertiles of the box area over the (unlimited) training split."""
    arrays = decoded.arrays
    cuts = tuple(float(q) for q in np.quantile(decoded.area[members["train"]], [1 / 3, 2 / 3]))
    bins = pose_bins(decoded.area, cuts)
    splits = {name: limit_rows(Split(X=arrays["X"][rows], y=arrays["y"][rows].astype(np.int64), index=rows),
                               decoded.limit, len(decoded.class_names))
              for name, rows in members.items()}
    return splits, bins, cuts


def _pose_annotations(decoded: Decoded, splits: dict[str, Split], bins: np.ndarray) -> dict[str, Split]:
    """``extra["pose"]`` / ``extra["pose_test"]``: ``X`` = the bounding box, ``y`` = the pose bin."""
    return {key: Split(X=decoded.arrays["boxes"][splits[name].index], y=bins[splits[name].index],
                       index=splits[name].index)
            for key, name in (("pose", "train"), ("pose_test", "test"))}


def _notes(decoded: Decoded, split: str) -> list[str]:
    notes = [f"{split}; X uint8 (n, {decoded.size}, {decoded.size}, 3), bilinear resize, aspect not kept",
             "pose bins: tertiles of the normalised box area on the training split (cobum.md 2.2)"]
    if decoded.limit is not None:
        notes.append(f"limit_per_class={decoded.limit}: first {decoded.limit} images of each class kept in each "
                     "split (image-id order)")
    return notes


def load_default(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    decoded = _decoded(paths, params)
    is_train = decoded.arrays["is_train"].astype(bool)
    splits, bins, cuts = _pose_splits(decoded, {"train": np.flatnonzero(is_train), "test": np.flatnonzero(~is_train)})
    concepts = load_concepts()
    return image_dataset(
        NAME, splits["train"], splits["test"], decoded.class_names, concepts.class_concepts, concepts.concept_names,
        meta={"split": "official train_test_split.txt", "reconstructed": False, "image_size": decoded.size,
              "limit_per_class": decoded.limit, "pose_cuts": list(cuts), "pose_names": list(POSE_NAMES),
              "concepts_from": f"{concepts.path.name}: {concepts.method}",
              "notes": _notes(decoded, "official train_test_split.txt")},
        extra=_pose_annotations(decoded, splits, bins),
    )


def load_cobum(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    """cobum's CUB-200 (cobum.md 2.2, 6.9, 6.12): pooled class-stratified 70/10/20 split of the 11,788 images,
    pose bins cut on its training split; ``s`` = pose bin."""
    decoded = _decoded(paths, params)
    rows = pooled_split(decoded.arrays["y"])
    splits, bins, cuts = _pose_splits(decoded, rows)
    splits = {name: with_groups(split, bins[split.index]) for name, split in splits.items()}
    concepts = load_concepts()
    pose_meta = {"names": dict(enumerate(POSE_NAMES)), "cuts": list(cuts),
                 "measure": "bounding-box area / image area of the original image (bounding_boxes.txt)",
                 "rule": "0 close-up: area >= cuts[1]; 1 mid-range; 2 distant: area < cuts[0]; cuts = tertiles "
                         "on the training split", "forget": "bin 2 (distant) -> D_f [reconstructed, cobum.md 6.9]"}
    return bias_dataset(
        NAME, splits, decoded.class_names, concepts.class_concepts, concepts.concept_names,
        fairness={"bias": "pose", "target_class": None, "groups": dict(enumerate(POSE_NAMES)),
                  "gaps_on": "all test images, per class across the pose bins (cobum.md 4.1)"},
        sensitive="pose bin",
        meta={"split": POOLED_SPLIT, "split_sha256": split_digest(rows), "reconstructed": True,
              "image_size": decoded.size, "limit_per_class": decoded.limit, "pose_cuts": list(cuts),
              "pose_names": list(POSE_NAMES), "pose_bins": pose_meta,
              "concepts_from": f"{concepts.path.name}: {concepts.method}", "notes": _notes(decoded, POOLED_SPLIT)},
        extra=_pose_annotations(decoded, splits, bins),
    )


register_dataset(
    SOURCE,
    variants={"default": load_default, "cobum": load_cobum},
    variant_notes={"default": "official split, uint8 RGB resized to image_size (224); 10 concepts; pose bins",
                   "cobum": "cobum.md 2.2: pooled class-stratified 70/10/20 split; pose bins (tertiles of the box "
                            "area on its training split) in s; image_size (224), limit_per_class=k"}
)
