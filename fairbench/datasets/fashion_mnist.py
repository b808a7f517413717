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
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..core.errors import FairbenchError
from ._images import check_limit, image_dataset, limit_rows
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


register_dataset(
    SOURCE,
    variants={"default": load_default},
    variant_notes={"default": "official split, uint8 28x28 images; concepts tops / footwear / other; "
                              "limit_per_class=k for mini runs"},
)
