"""What every image dataset gives the training side, and the pieces the image loaders share.

The image dataset interface (``cifar10``, ``cifar100``, ``cub200``, ``fashion_mnist``):

- ``dataset.task == "images"``;
- ``train`` / ``test`` are :class:`~.base.Split` with ``X`` uint8, ``(n, H, W)`` for grayscale or
  ``(n, H, W, C)`` channels-last for colour (no scaling, no normalisation: the learner does that),
  ``y`` int64 class ids ``0..K-1``, ``index`` int64 row ids in the source files' order, ``s`` None;
- ``dataset.class_names``: the K class names, in label order (``resolve_class`` accepts them);
- concepts (groups of classes: CIFAR-100's 20 super-classes, CUB's 10 clusters, Fashion-MNIST's
  tops / footwear / other): ``dataset.meta["concept_names"]`` (m names) and
  ``dataset.meta["class_concepts"]`` (K ints, class id -> concept id), and the same per row as
  ``dataset.extra["coarse"]`` (training rows) and ``dataset.extra["coarse_test"]`` (test rows):
  Splits whose ``y`` is the concept id and ``X`` the fine label (:func:`concept_splits`);
- ``dataset.meta["image_shape"]``: ``[H, W]`` or ``[H, W, C]``.

Dataset-specific annotations sit in ``extra`` too (CUB: ``extra["pose"]`` / ``extra["pose_test"]`` with
the bounding boxes). Decoded arrays are cached once per dataset archive and image size as ``.npz``
(:func:`cached_arrays`), read with ``allow_pickle=False``; CIFAR's python pickles are read with
:func:`restricted_unpickle`, which builds numpy arrays, lists, dicts, strings, bytes and numbers and
nothing else, so a crafted pickle cannot run code.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..core import settings
from ..core.errors import DataError
from ..core.hashing import sha256_file
from .base import Dataset, Split
from .cache import FileOrigin, commit, part_path, record_origins, writing

try:  # numpy >= 2 keeps the implementation under numpy._core; older pickles name numpy.core
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it to carry bytes; only the latin-1 codec (no
    compression codecs, which would let a pickle inflate data)."""
    if encoding.replace("-", "").lower() not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"codec {encoding!r} is not admitted")
    return text.encode("latin1")


# (module, name) -> the object a numpy array pickle needs, whatever numpy version wrote it
_ADMITTED = {
    **{(module, "_reconstruct"): _reconstruct for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "_frombuffer"): _frombuffer for module in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ADMITTED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not admitted") from None


def restricted_unpickle(data: bytes, what: str) -> object:
    """Unpickle ``data`` admitting only numpy arrays, lists, dicts, tuples, strings, bytes and numbers.

    Any other global (``os.system``, ``builtins.eval``, a class) is refused before it is called: one
    :class:`DataError` naming ``what``. Python 2 strings (the CIFAR pickles) are read as latin-1, as
    torchvision does."""
    try:
        return _ArraysOnly(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(f"{what}: refused to unpickle ({exc}); only numpy arrays, lists, dicts, strings, bytes "
                        "and numbers are admitted") from None


# ---------------------------------------------------------------- the decoded-array cache
def _cache_file(dataset: str, key: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", key):
        raise ValueError(f"bad cache key {key!r}")
    return settings.data_dir() / dataset / f"decoded-{key}.npz"


def _read_npz(path: Path, names: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The arrays of a complete cache file, or None when it is absent, damaged or lacks one of ``names``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not all(name in archive.files for name in names):
                return None
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError):
        return None


def cached_arrays(
    dataset: str, key: str, names: Sequence[str], build: Callable[[], dict[str, np.ndarray]], origin: str
) -> dict[str, np.ndarray]:
    """Arrays decoded once from a dataset's files: ``<cache>/<dataset>/decoded-<key>.npz`` when it holds
    every one of ``names``, else ``build()``, written atomically (under the dataset folder's lock) and
    recorded in the folder's manifest as derived from ``origin``. ``key`` must name the archive's
    checksum and every decoding choice (image size), so a different archive or size never reuses it."""
    path = _cache_file(dataset, key)
    found = _read_npz(path, names)
    if found is not None:
        return found
    with writing(dataset) as folder:
        found = _read_npz(path, names)  # another process may have written it meanwhile
        if found is not None:
            return found
        arrays = build()
        for name, array in arrays.items():
            if array.dtype == object:
                raise ValueError(f"{dataset}: cached array {name} must not be an object array")
        tmp = part_path(path)
        try:
            with open(tmp, "wb") as out:
                np.savez(out, **arrays)
            digest, size = sha256_file(tmp), tmp.stat().st_size
            commit(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        record_origins(folder, {path.name: (FileOrigin("decoded", origin), digest, size)})
    return arrays


# ---------------------------------------------------------------- concepts
def check_concepts(dataset: str, class_concepts: Sequence[int], concept_names: Sequence[str], n_classes: int) -> None:
    """Every class has one concept id, and every concept id names a concept."""
    codes = np.asarray(class_concepts)
    if len(codes) != n_classes or codes.min(initial=0) < 0 or codes.max(initial=0) >= len(concept_names):
        raise DataError(f"{dataset}: the concept map must give each of the {n_classes} classes a concept id in "
                        f"0..{len(concept_names) - 1}")


def annotation(split: Split, values: np.ndarray) -> Split:
    """A per-row annotation of ``split`` in the form the protocols and metrics read: ``y`` = the value,
    ``X`` = the class label, the rows' ids kept."""
    return Split(X=split.y.copy(), y=np.asarray(values, dtype=np.int64), index=None if split.index is None
                 else split.index.copy())


def concept_splits(train: Split, test: Split, class_concepts: Sequence[int]) -> dict[str, Split]:
    """``extra["coarse"]`` / ``extra["coarse_test"]``: per row, ``y`` = the concept id, ``X`` = the fine label."""
    codes = np.asarray(class_concepts, dtype=np.int64)
    return {key: annotation(split, codes[split.y]) for key, split in (("coarse", train), ("coarse_test", test))}


def image_dataset(
    name: str,
    train: Split,
    test: Split,
    class_names: Sequence[str],
    class_concepts: Sequence[int],
    concept_names: Sequence[str],
    meta: dict,
    extra: dict[str, Split] | None = None,
) -> Dataset:
    """A :class:`Dataset` in the image interface above, after checking the arrays follow it."""
    for which, split in (("train", train), ("test", test)):
        if split.X.dtype != np.uint8 or split.X.ndim not in (3, 4) or len(split.X) != len(split.y):
            raise DataError(f"{name}: {which} images must be uint8 (n, H, W[, C]) with one label each, "
                            f"got {split.X.dtype} {split.X.shape} for {len(split.y)} labels")
        if split.y.dtype != np.int64 or (len(split.y) and (split.y.min() < 0 or split.y.max() >= len(class_names))):
            raise DataError(f"{name}: {which} labels must be int64 in 0..{len(class_names) - 1}")
    check_concepts(name, class_concepts, concept_names, len(class_names))
    return Dataset(
        name=name,
        train=train,
        test=test,
        task="images",
        class_names=list(class_names),
        extra={**concept_splits(train, test, class_concepts), **(extra or {})},
        meta={
            "class_concepts": [int(c) for c in class_concepts],
            "concept_names": list(concept_names),
            "image_shape": list(train.X.shape[1:]),
            **meta,
        },
    )


def check_side(dataset: str, key: str, value: object) -> int:
    """An image side in pixels from a loader parameter: an integer in 8..1024 (DataError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 1024:
        raise DataError(f"{dataset}: {key} must be an integer in 8..1024, got {value!r}")
    return value


def decode_rgb(data: bytes, where: str, size: int, crop: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """(uint8 (size, size, 3) pixels, the original (width, height)) of one encoded image: converted to RGB,
    centre-cropped to ``crop`` x ``crop`` first when given (offsets rounded as torchvision's ``CenterCrop``),
    resized bilinearly; DataError naming ``where`` for an unreadable or too small image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            original = image.size  # (width, height)
            rgb = image.convert("RGB")
            if crop is not None:
                width, height = original
                if width < crop or height < crop:
                    raise DataError(f"{where} is {width}x{height}, smaller than the {crop}x{crop} crop")
                left, top = int(round((width - crop) / 2.0)), int(round((height - crop) / 2.0))
                rgb = rgb.crop((left, top, left + crop, top + crop))
            pixels = rgb.resize((size, size), Image.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{where} is not a readable image ({exc})") from None
    return np.asarray(pixels, dtype=np.uint8), original


def check_limit(dataset: str, limit: object) -> int | None:
    """The ``limit_per_class`` parameter: None or a positive integer."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DataError(f"{dataset}: limit_per_class must be a positive integer, got {limit!r}")
    return limit


def limit_rows(split: Split, limit: int | None, n_classes: int) -> Split:
    """The first ``limit`` rows of every class (file order), for small runs; the whole split when None."""
    if limit is None:
        return split
    keep = np.sort(np.concatenate([np.flatnonzero(split.y == c)[:limit] for c in range(n_classes)]))
    return split.subset(keep)
