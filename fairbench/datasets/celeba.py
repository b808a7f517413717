"""CelebA (Liu, Luo, Wang & Tang 2015): 202,599 aligned face images with 40 binary attributes.

Files (the names and md5 checksums torchvision's ``CelebA`` pins; no sha256 is published):
``img_align_celeba.zip`` (members ``img_align_celeba/000001.jpg`` ..., 178x218 JPEGs),
``list_attr_celeba.txt`` (a count line, a line of the 40 attribute names, then ``<file> <40 values of
-1 / 1>``) and ``list_eval_partition.txt`` (``<file> <0 train | 1 validation | 2 test>``). The
publisher shares them on Google Drive for non-commercial research only: fairbench neither
redistributes nor downloads them. Get them from the official page and install them with
``fairbench download celeba --from DIR``, which checks the md5s.

The zip's member list is checked first (:func:`.archives.checked_members`); every image is read from it
in memory, converted to RGB, centre-cropped to ``crop`` x ``crop`` (178: the whole width of an aligned
image; offsets rounded as torchvision's ``CenterCrop``) and resized to ``image_size`` x ``image_size``
(128, bilinear), the preprocessing cobum.md §2.4 recommends. The uint8 arrays are cached once per zip
md5, crop and size (``decoded-<md5>-c<crop>-<size>.npz``; about 10 GB at 128 px for all images).

Labels: ``y`` = the attribute ``target`` (default ``Smiling``, index 31), 1 where the file says 1;
``s`` = the attribute ``sensitive`` (default ``Male``, index 20), so groups 0 = female, 1 = male;
``class_names`` = ``["not smiling", "smiling"]`` and ``group_names`` = ``{0: "female", 1: "male"}``, so a
protocol may name them. ``index`` = the image's row in ``list_attr_celeba.txt`` (file 000001.jpg = 0).
There is no grouping of classes: one concept, ``faces``.

- ``default``: the official partition of ``list_eval_partition.txt`` (train / validation / test =
  162,770 / 19,867 / 19,962), validation in ``extra["validation"]``.
- ``cobum`` (cobum.md 2.4, 6.5, 6.6, 6.12): all images pooled and split 70/10/20 per target class
  (:mod:`._cobum`). ``meta["fairness"]``: bias ``attribute``, target class 1 (the gaps compare the rate,
  TPR and FPR of "smiling" between the groups). ``meta["group_counts"]`` records the (group, class)
  counts of every split (the paper's "about 60,000 smiling females vs 10,000 smiling males").

Parameters: ``target`` / ``sensitive`` (attribute names), ``image_size`` (default 128), ``crop``
(default 178), ``limit_per_class`` (int, optional: the first ``k`` images of each class in each split).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..core.errors import DataError
from ._cobum import POOLED_SPLIT, bias_dataset, pooled_split, split_digest, with_groups
from ._images import cached_arrays, check_limit, check_side, decode_rgb, limit_rows
from ._preprocessing import check_params
from .archives import ArchiveLimits, iter_zip_files
from .base import DataFile, Dataset, DatasetSource, Split
from .download import file_digest
from .registry import register_dataset

NAME = "celeba"
IMAGES = "img_align_celeba.zip"
ATTRIBUTES = "list_attr_celeba.txt"
PARTITION = "list_eval_partition.txt"
HOMEPAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
# md5 of each file, as torchvision's CelebA.file_list pins them
FILES = (
    DataFile(IMAGES, (), md5=("00d2c5bc6d35e252742224ab0c1e8fcb",)),
    DataFile(ATTRIBUTES, (), md5=("75e246fa4810816ffd6ee81facbd244c",)),
    DataFile(PARTITION, (), md5=("d32c9cbf5e040fd4025c592c306e6668",)),
)
N_ATTRIBUTES = 40
DEFAULT_SIZE = 128
DEFAULT_CROP = 178
PARTITION_NAMES = ("train", "validation", "test")
LIMITS = ArchiveLimits(max_members=210_000, max_bytes=4 << 30)  # 202,599 JPEGs and their folder

SOURCE = DatasetSource(
    name=NAME,
    files=FILES,
    licence="non-commercial research only (CelebA's agreement); not redistributed",
    citation=("Liu, Z., Luo, P., Wang, X. & Tang, X. (2015). Deep Learning Face Attributes in the Wild. "
              "Proceedings of the International Conference on Computer Vision (ICCV)."),
    homepage=HOMEPAGE,
    description="202,599 aligned 178x218 face images, 40 binary attributes; official partition 162,770 / "
                "19,867 / 19,962.",
    obtain_note=(f"CelebA may not be redistributed or fetched by fairbench: from {HOMEPAGE} (Google Drive: "
                 f"Img/{IMAGES}, Anno/{ATTRIBUTES}, Eval/{PARTITION}; about 1.4 GB) put the three files in a "
                 f"folder DIR and run `fairbench download {NAME} --from DIR`"),
    approx_bytes=1_443_490_838,  # img_align_celeba.zip; the two text files add about 30 MB
)


@dataclass
class Annotations:
    files: list[str]  # image file names, in list_attr_celeba.txt order
    names: list[str]  # the 40 attribute names
    values: np.ndarray  # int64 (n, 40), 0 / 1
    partition: np.ndarray  # int64 (n,), 0 train, 1 validation, 2 test


def _lines(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name} cannot be read as text ({exc})") from None
    return [line.split() for line in text.splitlines() if line.strip()]


def parse_annotations(attributes: Path, partition: Path) -> Annotations:
    """The attribute table and the partition, checked to list the same images in the same order."""
    lines = _lines(attributes)
    if len(lines) < 2 or len(lines[1]) != N_ATTRIBUTES or not lines[0][0].isdigit():
        raise DataError(f"{ATTRIBUTES}: expected a count line and a line of {N_ATTRIBUTES} attribute names")
    rows = lines[2:]
    if int(lines[0][0]) != len(rows):
        raise DataError(f"{ATTRIBUTES}: the first line says {lines[0][0]} images, the file lists {len(rows)}")
    bad = next((i for i, row in enumerate(rows) if len(row) != N_ATTRIBUTES + 1), None)
    if bad is not None:
        raise DataError(f"{ATTRIBUTES}: line {bad + 3} has {len(rows[bad])} fields, expected {N_ATTRIBUTES + 1}")
    try:
        raw = np.array([row[1:] for row in rows], dtype=np.int64).reshape(len(rows), N_ATTRIBUTES)
    except ValueError:
        raise DataError(f"{ATTRIBUTES}: an attribute value is not an integer") from None
    if not np.isin(raw, (-1, 1)).all():
        raise DataError(f"{ATTRIBUTES}: attribute values must be -1 or 1")
    files = [row[0] for row in rows]
    split_rows = _lines(partition)
    if [row[0] for row in split_rows] != files or any(len(row) != 2 for row in split_rows):
        raise DataError(f"{PARTITION} must list the images of {ATTRIBUTES}, in the same order, one partition each")
    if any(row[1] not in ("0", "1", "2") for row in split_rows):
        raise DataError(f"{PARTITION}: partitions must be 0 (train), 1 (validation) or 2 (test)")
    partition_codes = np.array([int(row[1]) for row in split_rows], dtype=np.int64)
    return Annotations(files, lines[1], (raw == 1).astype(np.int64), partition_codes)


def decode_images(archive: Path, files: list[str], crop: int, size: int) -> dict[str, np.ndarray]:
    """Every image of ``files`` (looked up by base name in the zip), cropped and resized, in that order."""
    row_of = {name: row for row, name in enumerate(files)}
    X = np.empty((len(files), size, size, 3), dtype=np.uint8)
    seen = np.zeros(len(files), dtype=bool)
    wanted = lambda member: not member.startswith("__MACOSX/") and PurePosixPath(member).name in row_of  # noqa: E731
    for member, data in iter_zip_files(archive, wanted, LIMITS):
        row = row_of[PurePosixPath(member).name]
        if not seen[row]:  # the first copy, as for the other archives
            X[row], seen[row] = decode_rgb(data, f"{IMAGES}: {member}", size, crop)[0], True
    if not seen.all():
        raise DataError(f"{archive} lacks {int((~seen).sum())} image(s) listed in {ATTRIBUTES}, "
                        f"e.g. {files[int(np.argmin(seen))]}")
    return {"X": X, "files": np.array(files)}


def _attribute(annotations: Annotations, name: object, role: str) -> int:
    lowered = [n.lower() for n in annotations.names]
    if not isinstance(name, str) or name.lower() not in lowered:
        raise DataError(f"{NAME}: {role} must be one of the attributes of {ATTRIBUTES} ({', '.join(annotations.names)}), "
                        f"got {name!r}")
    return lowered.index(name.lower())


def _side(name: str, value: int) -> str:
    """Readable name of one side of a binary attribute: Male 0 / 1 -> female / male, Smiling -> not smiling / smiling."""
    if name.lower() == "male":
        return "male" if value else "female"
    return name.lower().replace("_", " ") if value else f"not {name.lower().replace('_', ' ')}"


@dataclass
class Loaded:
    images: np.ndarray
    y: np.ndarray
    s: np.ndarray
    partition: np.ndarray
    target: str
    sensitive: str
    size: int
    crop: int
    limit: int | None


def _load(paths: dict[str, Path], params: dict) -> Loaded:
    opts = check_params(NAME, params, {"target": "Smiling", "sensitive": "Male", "image_size": DEFAULT_SIZE,
                                       "crop": DEFAULT_CROP, "limit_per_class": None})
    size, crop = opts["image_size"], opts["crop"]
    for key, value in (("image_size", size), ("crop", crop)):
        check_side(NAME, key, value)
    limit = check_limit(NAME, opts["limit_per_class"])
    annotations = parse_annotations(paths[ATTRIBUTES], paths[PARTITION])
    target = _attribute(annotations, opts["target"], "target")
    sensitive = _attribute(annotations, opts["sensitive"], "sensitive")
    if target == sensitive:
        raise DataError(f"{NAME}: target and sensitive must be different attributes")
    archive = paths[IMAGES]
    digest = file_digest(archive, FILES[0])  # memoised: the download check computed it
    arrays = cached_arrays(NAME, f"{digest}-c{crop}-{size}", ("X", "files"),
                           lambda: decode_images(archive, annotations.files, crop, size),
                           f"{IMAGES} (md5 {digest}), centre crop {crop}, resized to {size}x{size}")
    if [str(f) for f in arrays["files"]] != annotations.files:
        raise DataError(f"{NAME}: the decoded images do not follow {ATTRIBUTES}; delete "
                        f"decoded-{digest}-c{crop}-{size}.npz from the cache folder to decode them again")
    return Loaded(arrays["X"], annotations.values[:, target], annotations.values[:, sensitive],
                  annotations.partition, annotations.names[target], annotations.names[sensitive], size, crop, limit)


def _group_counts(splits: dict[str, Split], class_names: list[str], group_names: dict[int, str]) -> dict:
    return {name: {f"{group_names[g]} / {class_names[c]}": int(((split.s == g) & (split.y == c)).sum())
                   for g in group_names for c in range(len(class_names))}
            for name, split in splits.items()}


def _dataset(loaded: Loaded, rows: dict[str, np.ndarray], split: str, meta: dict) -> Dataset:
    class_names = [_side(loaded.target, 0), _side(loaded.target, 1)]
    groups = {0: _side(loaded.sensitive, 0), 1: _side(loaded.sensitive, 1)}
    splits = {}
    for name, ids in rows.items():
        part = limit_rows(Split(X=loaded.images[ids], y=loaded.y[ids], index=ids), loaded.limit, 2)
        splits[name] = with_groups(part, loaded.s[part.index])
    notes = [f"{split}; X uint8 (n, {loaded.size}, {loaded.size}, 3): centre crop {loaded.crop}, bilinear resize",
             f"y = {loaded.target} (1 where {ATTRIBUTES} says 1), s = {loaded.sensitive}"]
    if loaded.limit is not None:
        notes.append(f"limit_per_class={loaded.limit}: first {loaded.limit} images of each class kept in each split")
    return bias_dataset(
        NAME, splits, class_names, [0, 0], ["faces"],
        fairness={"bias": "attribute", "target_class": 1, "groups": groups,
                  "gaps_on": f"all test images: rate, TPR and FPR of '{class_names[1]}' between the groups "
                             "(cobum.md 4.1)"},
        sensitive=loaded.sensitive,
        meta={"split": split, "target": loaded.target, "sensitive_attribute": loaded.sensitive,
              "image_size": loaded.size, "crop": loaded.crop, "limit_per_class": loaded.limit,
              "group_counts": _group_counts(splits, class_names, groups),
              "concepts_from": "none: one concept, faces", "notes": notes, **meta},
    )


def load_default(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    loaded = _load(paths, params)
    rows = {name: np.flatnonzero(loaded.partition == code).astype(np.int64)
            for code, name in enumerate(PARTITION_NAMES)}
    return _dataset(loaded, rows, f"official {PARTITION}", {"reconstructed": False})


def load_cobum(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    loaded = _load(paths, params)
    rows = pooled_split(loaded.y)
    return _dataset(loaded, rows, POOLED_SPLIT, {"reconstructed": True, "split_sha256": split_digest(rows)})


register_dataset(
    SOURCE,
    variants={"default": load_default, "cobum": load_cobum},
    variant_notes={
        "default": "official partition; y = Smiling, s = Male (target / sensitive: any two attributes); centre crop "
                   "178, resized to image_size (128); limit_per_class=k",
        "cobum": "cobum.md 2.4: the same images and labels, pooled class-stratified 70/10/20 split; s = Male "
                 "(0 female, 1 male); group counts per split in meta",
    },
)
