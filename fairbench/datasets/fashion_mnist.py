"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60,000 train / 10,000 test 28x28 grayscale images.

The four IDX ``.gz`` files are verified on their decompressed payload (``verify_decompressed``):
re-compressed copies (e.g. the Debian package used for the mirror) differ from upstream only in the
gzip header. Sources: the mirror, the upstream URLs, then Debian's ``dataset-fashion-mnist`` package. The IDX format is parsed here directly (no torchvision download).

``default``: the image interface of :mod:`._images`: task ``images``, ``X`` uint8 ``(n, 28, 28)``,
``y`` int64 class 0..9. Parameter ``limit_per_class`` (int, optional) keeps the first ``k`` images of
every class in each split (for mini runs); ``index`` is the position in the original IDX file.

Concepts, the ``--scale mini`` stand-in for CIFAR-100's 20 super-classes (fairbench's grouping, not a
paper's): **tops** = T-shirt/top, Pullover, Coat, Shirt (upper-body garments, also the classes a
classifier confuses most with each other); **footwear** = Sandal, Sneaker, Ankle boot; **other** =
Trouser, Dress, Bag. Exposed as for every image dataset: ``meta["concept_names"]``,
``meta["class_concepts"]``, ``extra["coarse"]`` / ``extra["coarse_test"]``.

cobum's ``--scale mini`` analogues (each a real transform of the real images, never a relabelling; the
interface of :mod:`._cobum`: ``s`` = the bias group, ``meta["fairness"]``, ``meta["analogue"]``):

- ``cobum-scale`` (CUB-200's pose bias -> object scale): ``fraction`` (0.5) of class ``target_class`` (0,
  T-shirt/top) shrunk to 14x14 (means of 2x2 blocks) and placed in a random corner of the black 28x28
  canvas, in both splits; ``extra["pose"]`` / ``extra["pose_test"]``: ``X`` = the box ``(x, y, w, h)``,
  ``y`` = the scale bin (0 as published, 2 small), so the ``pose`` protocol's bin 2 forgets the small images;
- ``cobum-patch`` (CIFAR-10's red patch): images made RGB; the red 4x4 patch at the top-left of
  ``fraction`` (0.9) of class ``target_class`` (2, Pullover)'s training and test images; ``extra["patched"]``
  / ``extra["patched_test"]``; ``extra["shortcut_test"]``: the other classes' test images, all patched, to
  measure how far the patch alone predicts the class;
- ``cobum-tint`` (CelebA's gender x smiling): RGB images whose grey levels sit in the red (tint 1) or green
  (tint 0) channel; in training classes 0-4 are red and 5-9 green with probability ``correlation`` (0.9), on
  test with ``test_correlation`` (0.5, independent); D_f for the table: protocol ``group_class`` with
  ``group: red, target_class: 0`` (the majority tint of one class, as female among smiling faces).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..core.errors import FairbenchError
from ._cobum import BIAS_SEED, RED_PATCH, bias_dataset, check_share, pick_fraction, stamp_class
from ._images import annotation, check_limit, image_dataset, limit_rows
from ._preprocessing import check_params
from .base import DataFile, Dataset, DatasetSource, DebSource, Split
from .registry import register_dataset

_GITHUB = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
_S3 = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

# Debian's dataset-fashion-mnist (Expat licence, upstream files re-compressed): its .gz files carry the same
# payloads; verified byte for byte against the digests of shared/data/SOURCES.md.
_DEBIAN_PACKAGE = "dataset-fashion-mnist"
_DEBIAN_FOLDER = "usr/share/datasets/fashion-mnist/"

# decompressed sha256 (payload), from shared/data/SOURCES.md; bytes of the Debian / mirror .gz (upstream's
# gzip headers carry the file name: 23-24 bytes more)
_FILES = {
    "train-images-idx3-ubyte.gz": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 26_421_856),
    "train-labels-idx1-ubyte.gz": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 29_491),
    "t10k-images-idx3-ubyte.gz": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 4_422_079),
    "t10k-labels-idx1-ubyte.gz": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 5_125),
}

SOURCE = DatasetSource(
    name="fashion_mnist",
    files=tuple(
        DataFile(name, (digest,), urls=(_GITHUB + name, _S3 + name), size=size, verify_decompressed=True,
                 deb_member=_DEBIAN_FOLDER + name)
        for name, (digest, size) in _FILES.items()
    ),
    deb_source=DebSource(_DEBIAN_PACKAGE),
    licence="MIT",
    citation=(
        "Xiao, H., Rasul, K. & Vollgraf, R. (2017). Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine "
        "Learning Algorithms. arXiv:1708.07747"
    ),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    description="70,000 28x28 grayscale images of 10 clothing classes (60,000 train / 10,000 test).",
)

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CONCEPT_NAMES = ["tops", "footwear", "other"]
CLASS_CONCEPTS = [0, 2, 0, 2, 0, 1, 0, 1, 2, 1]  # class id -> concept id, in CLASS_NAMES order


def read_idx(path: Path) -> np.ndarray:
    """Parse a (gzipped) IDX file of unsigned bytes: magic 2049 (labels) or 2051 (images)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise FairbenchError(f"{path.name}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise FairbenchError(f"{path.name}: payload has {len(data) - offset} bytes, header says {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims).copy()


def _split(images: Path, labels: Path, limit: int | None) -> Split:
    X = read_idx(images)
    y = read_idx(labels).astype(np.int64)
    if X.shape[0] != y.shape[0] or X.shape[1:] != (28, 28):
        raise FairbenchError(f"fashion_mnist: {images.name} / {labels.name} shapes {X.shape} / {y.shape} disagree")
    return limit_rows(Split(X=X, y=y, s=None, index=np.arange(len(y), dtype=np.int64)), limit, len(CLASS_NAMES))


def load_default(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    opts = check_params("fashion_mnist", params, {"limit_per_class": None})
    limit = check_limit("fashion_mnist", opts["limit_per_class"])
    train = _split(paths["train-images-idx3-ubyte.gz"], paths["train-labels-idx1-ubyte.gz"], limit)
    test = _split(paths["t10k-images-idx3-ubyte.gz"], paths["t10k-labels-idx1-ubyte.gz"], limit)
    notes = ["official 60,000 / 10,000 split; X uint8 (n, 28, 28), y int64 0..9"]
    if limit is not None:
        notes.append(f"limit_per_class={limit}: first {limit} images of each class kept in each split (file order)")
    return image_dataset(
        "fashion_mnist", train, test, CLASS_NAMES, CLASS_CONCEPTS, CONCEPT_NAMES,
        meta={"split": "official train / t10k files", "reconstructed": False, "limit_per_class": limit,
              "concepts_from": "fairbench's grouping: tops / footwear / other (stand-in for CIFAR-100's super-classes)",
              "notes": notes},
    )


# ---------------------------------------------------------------- cobum's mini analogues
# Fashion-MNIST stand-ins for cobum's three biases (``--scale mini``), each a real transform of the real images on
# the official split (``limit_per_class`` keeps the first k of each class per split). The rows a bias touches are
# drawn from the fixed stream ``BIAS_SEED``: the data never depend on a run's seed.
SCALE_CLASS = 0  # T-shirt/top: its shrunk images stand in for CUB's distant birds
PATCH_CLASS = 2  # Pullover: the class that carries the patch, as CIFAR-10's class 2 (bird)
TINT_CLASS = 0  # T-shirt/top: D_f = its red training images (group_class red x T-shirt/top), as CelebA's female x smiling
SMALL_SIDE = 14  # a shrunk image: 2x2 blocks averaged, 28 -> 14 pixels
TINT_NAMES = {0: "green", 1: "red"}


def _mini_split(paths: dict[str, Path], which: str, limit: int | None) -> Split:
    prefix = "train" if which == "train" else "t10k"
    return _split(paths[f"{prefix}-images-idx3-ubyte.gz"], paths[f"{prefix}-labels-idx1-ubyte.gz"], limit)


def _rgb(images: np.ndarray) -> np.ndarray:
    return np.repeat(images[..., None], 3, axis=3)


def shrink_off_centre(images: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``images`` (n, 28, 28) whose ``rows`` are halved (mean of 2x2 blocks) and put in a corner drawn by
    ``rng`` on a black canvas; and every row's box ``(x, y, width, height)`` in pixels (the whole image unless shrunk)."""
    out = images.copy()
    boxes = np.tile(np.array([0.0, 0.0, 28.0, 28.0]), (len(images), 1))
    corners = rng.integers(0, 2, size=(len(rows), 2)) * (28 - SMALL_SIDE)
    for row, (top, left) in zip(rows, corners):
        small = images[row].reshape(SMALL_SIDE, 2, SMALL_SIDE, 2).astype(np.float64).mean(axis=(1, 3))
        out[row] = 0
        out[row, top:top + SMALL_SIDE, left:left + SMALL_SIDE] = np.round(small).astype(np.uint8)
        boxes[row] = (left, top, SMALL_SIDE, SMALL_SIDE)
    return out, boxes


def _mini_meta(limit: int | None, analogue: str, notes: list[str]) -> dict:
    return {"split": "official train / t10k files", "reconstructed": True, "limit_per_class": limit,
            "analogue": analogue, "concepts_from": "fairbench's grouping: tops / footwear / other",
            "notes": ["official 60,000 / 10,000 split" + (f", first {limit} images of each class per split"
                                                          if limit is not None else ""), *notes]}


def _mini_dataset(splits: dict[str, Split], fairness: dict, sensitive: str, meta: dict, extra: dict) -> Dataset:
    return bias_dataset("fashion_mnist", splits, CLASS_NAMES, CLASS_CONCEPTS, CONCEPT_NAMES, fairness=fairness,
                        sensitive=sensitive, meta=meta, extra=extra)


def load_cobum_scale(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    """Pose -> object scale: ``fraction`` of class ``target_class``'s images (train and test) shrunk to half size in
    a random corner; ``s`` = ``extra["pose"].y`` = scale bin (0 normal, 2 small, the ``pose`` protocol's bin 2)."""
    opts = check_params("fashion_mnist", params, {"target_class": SCALE_CLASS, "fraction": 0.5, "limit_per_class": None})
    fraction = check_share("fashion_mnist", "fraction", opts["fraction"])
    target = _class_param(opts["target_class"])
    limit = check_limit("fashion_mnist", opts["limit_per_class"])
    rng = np.random.default_rng(BIAS_SEED)
    splits, boxes = {}, {}
    for which in ("train", "test"):
        split = _mini_split(paths, which, limit)
        small = pick_fraction(rng, np.flatnonzero(split.y == target), fraction)
        X, boxes[which] = shrink_off_centre(split.X, small, rng)
        bins = np.zeros(len(split), dtype=np.int64)
        bins[small] = 2
        splits[which] = Split(X=X, y=split.y, s=bins, index=split.index)
    extra = {key: Split(X=boxes[which], y=splits[which].s, index=splits[which].index)
             for key, which in (("pose", "train"), ("pose_test", "test"))}
    analogue = (f"cobum CUB-200 pose bias -> object scale: {fraction:g} of class {target} ({CLASS_NAMES[target]})'s "
                f"images shrunk to {SMALL_SIDE}x{SMALL_SIDE} (2x2 block means) in a random corner, train and test; "
                "bin 2 = small (D_f with protocol pose, pose_bin 2), 0 = as published")
    return _mini_dataset(
        splits, {"bias": "pose", "target_class": None, "groups": {0: "normal", 2: "small"},
                 "gaps_on": "all test images, per class across the scale bins"}, "scale bin",
        {**_mini_meta(limit, analogue, [analogue]), "scaled_class": target, "scale_fraction": fraction,
         "pose_bins": {"names": {0: "normal", 2: "small"}, "measure": "box area / image area (extra['pose'].X)",
                       "rule": "0: the whole 28x28 image; 2: a 14x14 box (area 0.25)"}},
        extra,
    )


def load_cobum_patch(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    """Patch: images made RGB; the red 4x4 patch at the top-left of ``fraction`` of class ``target_class``'s training
    and test images (``s`` = patched); ``extra["shortcut_test"]``: every test image of the other classes, patched."""
    opts = check_params("fashion_mnist", params, {"target_class": PATCH_CLASS, "fraction": 0.9, "limit_per_class": None})
    fraction = check_share("fashion_mnist", "fraction", opts["fraction"])
    target = _class_param(opts["target_class"])
    limit = check_limit("fashion_mnist", opts["limit_per_class"])
    rng = np.random.default_rng(BIAS_SEED)
    plain = {which: _mini_split(paths, which, limit) for which in ("train", "test")}
    rgb = {which: Split(X=_rgb(split.X), y=split.y, index=split.index) for which, split in plain.items()}
    splits = {which: stamp_class(split, target, fraction, RED_PATCH, rng) for which, split in rgb.items()}
    others = rgb["test"].subset(np.flatnonzero(rgb["test"].y != target))
    shortcut = Split(X=RED_PATCH.stamp(others.X, np.arange(len(others))), y=others.y,
                     s=np.ones(len(others), dtype=np.int64), index=others.index)
    analogue = (f"cobum CIFAR-10 red patch -> the same red 4x4 patch (top-left) on {fraction:g} of class {target} "
                f"({CLASS_NAMES[target]})'s training and test images, grey made RGB; D_f = the patched training "
                "images (protocol patch); extra['shortcut_test'] = the other classes' test images, all patched")
    return _mini_dataset(
        splits, {"bias": "patch", "target_class": target, "groups": {0: "unpatched", 1: "patched"},
                 "gaps_on": f"test images of class {target}, patched vs unpatched",
                 "shortcut_test": "extra['shortcut_test']: other classes' test images with the patch"}, "patched",
        {**_mini_meta(limit, analogue, [analogue]), "patch": RED_PATCH.meta(), "patch_fraction": fraction,
         "patched_class": target},
        {"patched": annotation(splits["train"], splits["train"].s),
         "patched_test": annotation(splits["test"], splits["test"].s), "shortcut_test": shortcut},
    )


def tint(images: np.ndarray, tints: np.ndarray) -> np.ndarray:
    """RGB images whose grey levels go to the red channel (tint 1) or the green channel (tint 0)."""
    out = np.zeros((*images.shape, 3), dtype=np.uint8)
    out[tints == 1, ..., 0] = images[tints == 1]
    out[tints == 0, ..., 1] = images[tints == 0]
    return out


def load_cobum_tint(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    """Attribute: each image coloured red (tint 1) or green (tint 0); in training classes 0-4 are red with
    probability ``correlation`` and classes 5-9 green with the same probability; on test each tint has
    probability ``test_correlation`` the same way (0.5: independent of the class). ``s`` = tint."""
    opts = check_params("fashion_mnist", params, {"correlation": 0.9, "test_correlation": 0.5,
                                                  "target_class": TINT_CLASS, "limit_per_class": None})
    shares = {"train": check_share("fashion_mnist", "correlation", opts["correlation"]),
              "test": check_share("fashion_mnist", "test_correlation", opts["test_correlation"])}
    target = _class_param(opts["target_class"])
    limit = check_limit("fashion_mnist", opts["limit_per_class"])
    rng = np.random.default_rng(BIAS_SEED)
    splits = {}
    for which, share in shares.items():
        split = _mini_split(paths, which, limit)
        usual = (split.y < 5).astype(np.int64)  # the tint a class takes with probability `share`: red for 0-4
        tints = np.where(rng.random(len(split)) < share, usual, 1 - usual)
        splits[which] = Split(X=tint(split.X, tints), y=split.y, s=tints, index=split.index)
    analogue = (f"cobum CelebA gender x smiling -> a tint attribute correlated with the label: red (1) for classes 0-4 "
                f"and green (0) for 5-9 with probability {shares['train']:g} in training, {shares['test']:g} on test; "
                f"D_f = the red training images of class {target} ({CLASS_NAMES[target]}) (protocol group_class, "
                "group red), the majority tint of that class as female is among smiling faces")
    return _mini_dataset(
        splits, {"bias": "attribute", "target_class": target, "groups": dict(TINT_NAMES),
                 "gaps_on": f"all test images: rate, TPR and FPR of class {target} between the tints"}, "tint",
        {**_mini_meta(limit, analogue, [analogue]), "tint_correlation": shares}, {},
    )


def _class_param(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(CLASS_NAMES):
        raise FairbenchError(f"fashion_mnist: target_class must be a class id in 0..{len(CLASS_NAMES) - 1}, got {value!r}")
    return value


register_dataset(
    SOURCE,
    variants={"default": load_default, "cobum-scale": load_cobum_scale, "cobum-patch": load_cobum_patch,
              "cobum-tint": load_cobum_tint},
    variant_notes={"default": "official split, uint8 28x28 images; concepts tops / footwear / other; "
                              "limit_per_class=k for mini runs",
                   "cobum-scale": "cobum mini analogue of CUB's pose bias: fraction (0.5) of class target_class (0) "
                                  "shrunk to 14x14 in a random corner, train and test; s = scale bin (0 / 2)",
                   "cobum-patch": "cobum mini analogue of CIFAR-10's patch: RGB; red 4x4 patch on fraction (0.9) of "
                                  "class target_class (2)'s train and test images; s = patched; shortcut_test",
                   "cobum-tint": "cobum mini analogue of CelebA's gender x smiling: red / green tint correlated "
                                 "with the class (correlation 0.9 train, 0.5 test); s = tint"},
)
