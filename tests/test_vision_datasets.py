"""Image datasets (cifar10, cifar100, cub200, fashion_mnist's concepts) on small files generated in each
dataset's real on-disk layout: a cifar-*-python tarball of python pickles, a CUB_200_2011.tgz of JPEG/PNG
images and its text files. Also: the restricted unpickler, the checked tar reader, md5 pins, and what a
user is told when the data is missing."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from fairbench.core.errors import DataError
from fairbench.datasets import DATASETS, load_dataset
from fairbench.datasets._cub_concepts import (CONCEPTS_PATH, concepts_from_confusion, load_concepts,
                                              taxonomy_concepts)
from fairbench.datasets._images import restricted_unpickle
from fairbench.datasets.archives import iter_tar_files, read_tar_members

# CIFAR-100's fine classes (label order of the meta file) and super-classes (cfdebias.md §2.1)
FINE = ("apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
        "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
        "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
        "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
        "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
        "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
        "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm").split()
COARSE = {
    "aquatic_mammals": (4, 30, 55, 72, 95), "fish": (1, 32, 67, 73, 91), "flowers": (54, 62, 70, 82, 92),
    "food_containers": (9, 10, 16, 28, 61), "fruit_and_vegetables": (0, 51, 53, 57, 83),
    "household_electrical_devices": (22, 39, 40, 86, 87), "household_furniture": (5, 20, 25, 84, 94),
    "insects": (6, 7, 14, 18, 24), "large_carnivores": (3, 42, 43, 88, 97),
    "large_man-made_outdoor_things": (12, 17, 37, 68, 76), "large_natural_outdoor_scenes": (23, 33, 49, 60, 71),
    "large_omnivores_and_herbivores": (15, 19, 21, 31, 38), "medium_mammals": (34, 63, 64, 66, 75),
    "non-insect_invertebrates": (26, 45, 77, 79, 99), "people": (2, 11, 35, 46, 98),
    "reptiles": (27, 29, 44, 78, 93), "small_mammals": (36, 50, 65, 74, 80), "trees": (47, 52, 56, 59, 96),
    "vehicles_1": (8, 13, 48, 58, 90), "vehicles_2": (41, 69, 81, 85, 89),
}
COARSE_OF = np.zeros(100, dtype=np.int64)
for _code, _fines in enumerate(COARSE.values()):
    COARSE_OF[list(_fines)] = _code
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class Exploit:
    """A pickle payload that runs a shell command when unpickled by an unrestricted loader."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# ---------------------------------------------------------------- generated archives
def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _cifar_rows(labels: np.ndarray) -> np.ndarray:
    """Rows of 3,072 bytes: red plane = position (row * 32 + col) mod 256, green = the label, blue = row number."""
    data = np.empty((len(labels), 3, 1024), dtype=np.uint8)
    data[:, 0] = np.arange(1024) % 256
    data[:, 1] = labels[:, None]
    data[:, 2] = (np.arange(len(labels)) % 256)[:, None]
    return data.reshape(len(labels), 3072)


def cifar100_tarball(path: Path, per_class=(2, 1), members: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for split, count in zip(("train", "test"), per_class):
            fine = np.tile(np.arange(100), count)  # classes interleaved, as in the real files
            batch = {"filenames": [f"{split}_{i}.png" for i in range(len(fine))], "batch_label": f"{split} batch",
                     "fine_labels": fine.tolist(), "coarse_labels": COARSE_OF[fine].tolist(), "data": _cifar_rows(fine)}
            _add(tar, f"cifar-100-python/{split}", pickle.dumps(batch, protocol=2))
        meta = {"fine_label_names": FINE, "coarse_label_names": list(COARSE)}
        _add(tar, "cifar-100-python/meta", pickle.dumps(meta, protocol=2))
        for name, data in (members or {}).items():
            _add(tar, name, data)
    return path


def cifar10_tarball(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate([f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]):
            labels = (np.arange(10) + i) % 10
            batch = {"batch_label": name, "labels": labels.tolist(), "data": _cifar_rows(labels),
                     "filenames": [f"{name}_{j}.png" for j in range(10)]}
            _add(tar, f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=4))
        _add(tar, "cifar-10-batches-py/batches.meta", pickle.dumps({"label_names": CIFAR10_NAMES}, protocol=2))
    return path


# CUB images: (class label, is_train, (width, height), box (x, y, w, h), colour, format)
CUB_IMAGES = [
    (0, 1, (60, 40), (0, 0, 60, 40), (200, 10, 10), "JPEG"),
    (0, 0, (50, 50), (5, 5, 20, 20), (10, 200, 10), "PNG"),
    (16, 1, (40, 80), (10, 10, 10, 10), (255, 0, 0), "PNG"),
    (16, 1, (64, 48), (0, 0, 32, 24), (0, 0, 255), "JPEG"),
    (16, 0, (30, 30), (1, 1, 28, 28), (0, 255, 0), "PNG"),
    (199, 1, (80, 60), (0, 0, 20, 15), (128, 128, 0), "JPEG"),
    (199, 0, (40, 40), (0, 0, 40, 40), (0, 128, 128), "PNG"),
]


def _image_bytes(size, colour, fmt) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def cub_tarball(path: Path, class_names: list[str] | None = None, rows: list[tuple] | None = None) -> Path:
    """CUB_200_2011.tgz holding ``rows`` of images (as CUB_IMAGES: label, is_train, size, box, colour, format)."""
    class_names = class_names or load_concepts().class_names
    texts = {"images.txt": [], "image_class_labels.txt": [], "train_test_split.txt": [], "bounding_boxes.txt": []}
    images = {}
    for image_id, (label, is_train, size, box, colour, fmt) in enumerate(rows or CUB_IMAGES, start=1):
        rel = f"{class_names[label]}/img_{image_id}.{'jpg' if fmt == 'JPEG' else 'png'}"
        images[rel] = _image_bytes(size, colour, fmt)
        texts["images.txt"].append(f"{image_id} {rel}")
        texts["image_class_labels.txt"].append(f"{image_id} {label + 1}")
        texts["train_test_split.txt"].append(f"{image_id} {is_train}")
        texts["bounding_boxes.txt"].append(f"{image_id} " + " ".join(f"{v:.1f}" for v in box))
    texts["classes.txt"] = [f"{i + 1} {name}" for i, name in enumerate(class_names)]
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "attributes.txt", b"1 has_bill_shape::curved\n")  # outside CUB_200_2011/, as in the real archive
        for rel, data in reversed(list(images.items())):  # members in an order unlike the ids
            _add(tar, f"CUB_200_2011/images/{rel}", data)
        for name, lines in texts.items():
            _add(tar, f"CUB_200_2011/{name}", ("\n".join(lines) + "\n").encode())
    return path


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def image_env(fb_env_no_data, monkeypatch):
    """An offline, empty cache and a mirror folder; ``provide(name, archive)`` puts the archive in the mirror
    and pins the dataset to its md5 (a generated archive cannot have the real one)."""
    mirror = fb_env_no_data / "mirror"
    monkeypatch.setenv("FAIRBENCH_MIRROR", str(mirror))

    def provide(name: str, archive: Path, pin: bool = True) -> Path:
        entry = DATASETS.get(name)
        spec = entry.source.files[0]
        (mirror / name).mkdir(parents=True, exist_ok=True)
        target = mirror / name / spec.name
        archive.replace(target)
        if pin:
            pinned = dataclasses.replace(spec, md5=(_md5(target),))
            monkeypatch.setattr(entry, "source", dataclasses.replace(entry.source, files=(pinned,)))
        return target

    return provide


# ---------------------------------------------------------------- CIFAR
def test_cifar100_labels_coarse_labels_split_and_pixels(image_env, tmp_path):
    image_env("cifar100", cifar100_tarball(tmp_path / "cifar-100-python.tar.gz"))
    data = load_dataset("cifar100")
    assert data.task == "images" and len(data.train) == 200 and len(data.test) == 100
    assert data.train.X.dtype == np.uint8 and data.train.X.shape == (200, 32, 32, 3)
    assert data.train.y.dtype == np.int64 and data.train.y.tolist() == np.tile(np.arange(100), 2).tolist()
    assert data.train.index.tolist() == list(range(200))
    # channels-last: red = position in the plane, green = label, blue = row number
    assert data.train.X[7, 1, 2, 0] == 34 and (data.train.X[7, :, :, 1] == 7).all() and (data.train.X[7, ..., 2] == 7).all()
    assert data.class_names[65] == "rabbit" and data.meta["concept_names"][16] == "small_mammals"
    assert data.meta["class_concepts"] == COARSE_OF.tolist() and data.meta["class_concepts"][65] == 16
    assert data.extra["coarse"].y.tolist() == COARSE_OF[data.train.y].tolist()
    assert data.extra["coarse_test"].y.tolist() == COARSE_OF[data.test.y].tolist()
    assert data.extra["coarse"].X.tolist() == data.train.y.tolist()
    assert data.meta["image_shape"] == [32, 32, 3]


def test_cifar100_is_decoded_once_into_an_npz_cache_and_limited_per_class(image_env, tmp_path):
    image_env("cifar100", cifar100_tarball(tmp_path / "cifar-100-python.tar.gz"))
    first = load_dataset("cifar100")
    cached = list((Path(os.environ["FAIRBENCH_DATA"]) / "cifar100").glob("decoded-*.npz"))
    assert len(cached) == 1
    manifest = json.loads((cached[0].parent / ".fairbench-sources.json").read_text())["files"]
    assert manifest[cached[0].name]["source"] == "decoded" and len(manifest["cifar-100-python.tar.gz"]["sha256"]) == 64
    with np.load(cached[0], allow_pickle=False) as arrays:  # no object arrays: readable without pickle
        assert arrays["train_X"].shape == (200, 32, 32, 3)
    small = load_dataset("cifar100", params={"limit_per_class": 1})
    assert len(small.train) == 100 and sorted(small.train.y.tolist()) == list(range(100))
    assert (small.train.X == first.train.X[:100]).all() and small.extra["coarse"].y.tolist() == COARSE_OF.tolist()
    with pytest.raises(DataError, match="limit_per_class must be a positive integer"):
        load_dataset("cifar100", params={"limit_per_class": 0})


def test_cifar10_batches_in_order_and_vehicle_animal_concepts(image_env, tmp_path):
    image_env("cifar10", cifar10_tarball(tmp_path / "cifar-10-python.tar.gz"))
    data = load_dataset("cifar10")
    assert len(data.train) == 50 and len(data.test) == 10 and data.class_names == CIFAR10_NAMES
    assert data.train.y[10:20].tolist() == ((np.arange(10) + 1) % 10).tolist()  # data_batch_2 follows data_batch_1
    assert [data.meta["concept_names"][c] for c in data.meta["class_concepts"]] == [
        "vehicle", "vehicle", "animal", "animal", "animal", "animal", "animal", "animal", "vehicle", "vehicle"]


def test_cifar_refuses_a_malicious_pickle_without_running_it(image_env, tmp_path):
    marker = tmp_path / "pwned"
    payload = {"cifar-100-python/train": pickle.dumps({"data": Exploit(marker)}, protocol=2)}
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in payload.items():
            _add(tar, name, data)
        for name in ("test", "meta"):
            _add(tar, f"cifar-100-python/{name}", pickle.dumps({}, protocol=2))
    image_env("cifar100", path)
    with pytest.raises(DataError) as error:
        load_dataset("cifar100")
    message = str(error.value)
    assert "\n" not in message and "posix.system is not admitted" in message and "refused to unpickle" in message
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_restricted_unpickler_admits_arrays_lists_dicts_strings(protocol):
    value = {"data": np.arange(12, dtype=np.uint8).reshape(3, 4), "labels": [1, 2], "name": "x", b"raw": b"\x00\xff",
             "pair": (1.5, None)}
    loaded = restricted_unpickle(pickle.dumps(value, protocol=protocol), "test")
    assert (loaded["data"] == value["data"]).all() and loaded["data"].dtype == np.uint8
    assert loaded["labels"] == [1, 2] and loaded[b"raw"] == b"\x00\xff" and loaded["pair"] == (1.5, None)


class _Reduces:
    """A pickle payload that calls ``function(*args)`` when unpickled."""

    def __init__(self, function, *args):
        self.call = (function, args)

    def __reduce__(self):
        return self.call


@pytest.mark.parametrize("payload", ["system", "eval", "class", "codec"])
def test_restricted_unpickler_refuses_everything_else(tmp_path, payload):
    import builtins
    import codecs

    marker = tmp_path / "ran"
    data = {
        "system": pickle.dumps(Exploit(marker)),
        "eval": pickle.dumps(_Reduces(builtins.eval, f"open({str(marker)!r}, 'w')")),
        "class": pickle.dumps(dataclasses.replace),  # any other global, even a harmless function
        "codec": pickle.dumps(_Reduces(codecs.encode, "x" * 100, "zlib")),  # _codecs.encode with another codec
    }[payload]
    with pytest.raises(DataError, match="refused to unpickle"):
        restricted_unpickle(data, "test")
    assert not marker.exists()


# ---------------------------------------------------------------- checked tar reading
def _tar_with(path: Path, build) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "ok/file.txt", b"fine")
        build(tar)
    return path


def _special(kind: int, name: str, linkname: str = ""):
    def build(tar):
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, linkname
        tar.addfile(info)
    return build


@pytest.mark.parametrize("build, problem", [
    (lambda tar: _add(tar, "/etc/evil", b"x"), "points outside"),
    (lambda tar: _add(tar, "ok/../../evil", b"x"), "points outside"),
    (_special(tarfile.SYMTYPE, "ok/link", "/etc/passwd"), "symbolic link"),
    (_special(tarfile.LNKTYPE, "ok/hard", "ok/file.txt"), "hard link"),
    (_special(tarfile.CHRTYPE, "ok/dev"), "device file"),
    (_special(tarfile.FIFOTYPE, "ok/fifo"), "device file or pipe"),
])
def test_tar_with_traversal_links_or_devices_is_refused_whole(tmp_path, build, problem):
    archive = _tar_with(tmp_path / "bad.tar.gz", build)
    with pytest.raises(DataError, match=problem):
        read_tar_members(archive, ["ok/file.txt"])  # even the harmless member is not read
    with pytest.raises(DataError, match="refused"):
        list(iter_tar_files(archive, lambda name: True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz"]


def test_tar_reader_reads_members_and_names_the_missing(tmp_path):
    archive = _tar_with(tmp_path / "good.tar", lambda tar: _add(tar, "ok/b.bin", b"\x01\x02"))
    assert read_tar_members(archive, ["ok/b.bin"]) == {"ok/b.bin": b"\x01\x02"}
    with pytest.raises(DataError, match="lacks ok/absent"):
        read_tar_members(archive, ["ok/absent"])
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(DataError, match="not a readable tar"):
        read_tar_members(tmp_path / "junk.tar.gz", ["x"])


# ---------------------------------------------------------------- checksums
def test_a_download_with_the_wrong_md5_is_never_used(image_env, tmp_path):
    image_env("cifar100", cifar100_tarball(tmp_path / "cifar-100-python.tar.gz"), pin=False)  # the real md5 pin
    with pytest.raises(DataError, match="md5 mismatch") as error:
        load_dataset("cifar100")
    assert "eb9058c3a382ffc7106e4002c42a8d85" in str(error.value)
    folder = Path(os.environ["FAIRBENCH_DATA"]) / "cifar100"
    assert not folder.exists() or not any(folder.iterdir())


def test_a_corrupt_cached_archive_is_refused_with_the_repair_command(image_env, tmp_path):
    image_env("cifar100", cifar100_tarball(tmp_path / "cifar-100-python.tar.gz"))
    load_dataset("cifar100")
    cached = Path(os.environ["FAIRBENCH_DATA"]) / "cifar100" / "cifar-100-python.tar.gz"
    cached.write_bytes(cached.read_bytes()[:-10])
    from fairbench.datasets import _load_cached

    _load_cached.cache_clear()
    with pytest.raises(DataError, match=r"is corrupt: md5 expected .*`fairbench download cifar100`"):
        load_dataset("cifar100")


def test_download_from_a_user_folder_checks_the_md5_and_records_a_sha256(image_env, tmp_path, cli):
    archive = cifar100_tarball(tmp_path / "cifar-100-python.tar.gz")
    image_env("cifar100", archive)  # pins the md5; the archive moved to the mirror
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / archive.name).write_bytes((Path(os.environ["FAIRBENCH_MIRROR"]) / "cifar100" / archive.name).read_bytes())
    code, out, _ = cli("download", "cifar100", "--from", str(folder))
    assert code == 0 and "ok      cifar100: 1 file(s)" in out and "user folder" in out
    record = json.loads((Path(os.environ["FAIRBENCH_DATA"]) / "cifar100" / ".fairbench-sources.json").read_text())
    assert record["files"][archive.name]["sha256"] == hashlib.sha256((folder / archive.name).read_bytes()).hexdigest()


# ---------------------------------------------------------------- CUB-200-2011
def test_cub200_labels_split_boxes_pose_and_concepts(image_env, tmp_path):
    image_env("cub200", cub_tarball(tmp_path / "CUB_200_2011.tgz"))
    data = load_dataset("cub200", params={"image_size": 16})
    assert data.task == "images" and data.train.X.shape == (4, 16, 16, 3) and data.test.X.shape == (3, 16, 16, 3)
    train_ids = [i for i, row in enumerate(CUB_IMAGES) if row[1] == 1]
    test_ids = [i for i, row in enumerate(CUB_IMAGES) if row[1] == 0]
    assert data.train.index.tolist() == train_ids and data.test.index.tolist() == test_ids
    assert data.train.y.tolist() == [CUB_IMAGES[i][0] for i in train_ids]
    assert data.class_names[16] == "017.Cardinal" and len(data.class_names) == 200
    # solid-colour images survive decoding and resizing (JPEG within a few levels)
    for split, ids in ((data.train, train_ids), (data.test, test_ids)):
        for row, i in enumerate(ids):
            assert np.abs(split.X[row].astype(int) - np.array(CUB_IMAGES[i][4])).max() <= 3
    boxes = data.extra["pose"].X
    assert boxes.tolist() == [list(map(float, CUB_IMAGES[i][3])) for i in train_ids]
    assert data.extra["pose_test"].X.tolist() == [list(map(float, CUB_IMAGES[i][3])) for i in test_ids]
    area = np.array([b[2] * b[3] / (s[0] * s[1]) for _, _, s, b, _, _ in CUB_IMAGES])
    lower, upper = np.quantile(area[train_ids], [1 / 3, 2 / 3])
    assert data.meta["pose_cuts"] == pytest.approx([lower, upper])
    expected = [0 if a >= upper else 1 if a >= lower else 2 for a in area]
    assert data.extra["pose"].y.tolist() == [expected[i] for i in train_ids]
    assert data.extra["pose_test"].y.tolist() == [expected[i] for i in test_ids]
    concepts = load_concepts()
    assert data.meta["class_concepts"] == concepts.class_concepts and len(data.meta["concept_names"]) == 10
    assert data.extra["coarse"].y.tolist() == [concepts.class_concepts[y] for y in data.train.y]
    assert data.meta["concept_names"][data.meta["class_concepts"][16]].startswith("finches_buntings")


def test_cub200_pose_protocol_and_class_names_work_on_the_loaded_set(image_env, tmp_path):
    from fairbench.protocols import PROTOCOLS

    image_env("cub200", cub_tarball(tmp_path / "CUB_200_2011.tgz"))
    data = load_dataset("cub200", params={"image_size": 8})
    deletion = PROTOCOLS.get("pose").fn(data, 0, pose_bin="distant", fraction=1.0)
    assert sorted(deletion.forget.tolist()) == np.flatnonzero(data.extra["pose"].y == 2).tolist()
    from fairbench.protocols.tabular import resolve_class

    assert resolve_class("selective_class", data, "017.Cardinal") == 16


def test_cub200_refuses_an_archive_whose_classes_differ_from_the_concept_map(image_env, tmp_path):
    names = [f"{i + 1:03d}.Bird_{i}" for i in range(200)]
    image_env("cub200", cub_tarball(tmp_path / "CUB_200_2011.tgz", class_names=names))
    with pytest.raises(DataError, match="does not list the 200 classes of the concept map"):
        load_dataset("cub200", params={"image_size": 8})


def test_cub_concept_artifact_is_the_documented_rule():
    concepts = load_concepts()
    names, codes = taxonomy_concepts(concepts.class_names)
    document = json.loads(CONCEPTS_PATH.read_text())
    assert document["method"] == "taxonomy" and concepts.concept_names == names and concepts.class_concepts == codes
    assert len(codes) == 200 and len(names) == 10 and sum(document["cluster_sizes"]) == 200
    assert document["cluster_sizes"] == np.bincount(codes).tolist() and min(document["cluster_sizes"]) > 0
    assert concepts.class_names[16] == "017.Cardinal"
    same_concept = {concepts.class_names[i] for i, c in enumerate(codes) if c == codes[16]}
    assert {"014.Indigo_Bunting", "054.Blue_Grosbeak", "139.Scarlet_Tanager"} <= same_concept


def test_confusion_clustering_recovers_blocks_of_confused_classes():
    rng = np.random.default_rng(0)
    truth = rng.permutation(np.repeat(np.arange(10), 4))  # 40 classes, 10 hidden concepts of 4
    confusion = np.where(truth[:, None] == truth[None, :], 20.0, 0.5) + rng.random((40, 40))
    np.fill_diagonal(confusion, 300.0)
    found = np.array(concepts_from_confusion(confusion, 10))
    pairs_truth = truth[:, None] == truth[None, :]
    assert ((found[:, None] == found[None, :]) == pairs_truth).all() and found[0] == 0


# ---------------------------------------------------------------- Fashion-MNIST concepts
@pytest.mark.needs_data("fashion_mnist")
def test_fashion_mnist_concepts_use_the_same_fields(fb_env):
    data = load_dataset("fashion_mnist", params={"limit_per_class": 2})
    assert data.meta["concept_names"] == ["tops", "footwear", "other"]
    named = {data.class_names[i]: data.meta["concept_names"][c] for i, c in enumerate(data.meta["class_concepts"])}
    assert named == {"T-shirt/top": "tops", "Pullover": "tops", "Coat": "tops", "Shirt": "tops", "Sandal": "footwear",
                     "Sneaker": "footwear", "Ankle boot": "footwear", "Trouser": "other", "Dress": "other",
                     "Bag": "other"}
    assert data.extra["coarse"].y.tolist() == [data.meta["class_concepts"][y] for y in data.train.y]
    assert data.train.X.shape == (20, 28, 28) and data.meta["image_shape"] == [28, 28]


# ---------------------------------------------------------------- missing data
MISSING_SPEC = """\
paper: vis
table: missing
title: image data missing
rows:
  - {id: c100, label: CIFAR-100, metric: test_accuracy, run: {task: train_base, dataset: cifar100, method: dnn}}
  - {id: cub, label: CUB, metric: test_accuracy, run: {task: train_base, dataset: cub200, method: dnn}}
columns:
  - {id: value, label: value}
"""


def test_missing_image_data_names_the_command_that_obtains_it(fb_env_no_data, cli, own_table):
    code, out, _ = cli("list", "datasets")
    flat = " ".join(out.split())
    assert code == 0 and "cifar100 manual" in flat and "`fairbench download cifar100 --from DIR`" in flat
    assert "cub200 manual" in flat and "`fairbench download cub200 --from DIR`" in flat
    code, _, err = cli("run", "--method", "dnn", "--dataset", "cifar100", "--set", "task=train_base")
    assert code == 2 and "dataset cifar100 is not available here" in err
    assert "`fairbench download cifar100 --from DIR`" in " ".join(err.split())
    code, out, _ = cli("reproduce", own_table(MISSING_SPEC))
    flat = " ".join(out.split())
    assert code == 3  # the project's exit for cells left without a result (README: exit codes)
    for name, archive in (("cifar100", "cifar-100-python.tar.gz"), ("cub200", "CUB_200_2011.tgz")):
        assert f"data missing: {name} (1 run(s)); to get it:" in flat
        assert f"`fairbench download {name} --from DIR`" in flat and archive in flat
