"""cobum's datasets (issue 15, the data half): cifar10@cobum, cub200@cobum and celeba(@cobum) on small files
generated in the real layouts, the Fashion-MNIST mini analogues on the real files, the group_class protocol, and
what a reproduction without the data says.

Checked: the pooled 70/10/20 split is per class, disjoint, deterministic; the patch lands exactly where
``meta["patch"]`` says and only on the rows ``s`` marks; pose / scale bins follow the bounding boxes; CelebA's
crop, resize, labels and groups; each mini analogue is the transform its notes describe."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fairbench.core.errors import DataError, FairbenchError
from fairbench.datasets import DATASETS, load_dataset
from fairbench.datasets._cobum import pooled_split
from fairbench.protocols import make_deletion
from tests.test_vision_datasets import CIFAR10_NAMES, CUB_IMAGES, cub_tarball

PATCH = (slice(0, 4), slice(0, 4))
RED = np.array([255, 0, 0], dtype=np.uint8)


@pytest.fixture
def provide(fb_env_no_data, monkeypatch):
    """``provide(name, {file: path})``: the files go to an offline mirror and the dataset is pinned to their md5s
    (generated files cannot have the published ones)."""
    mirror = fb_env_no_data / "mirror"
    monkeypatch.setenv("FAIRBENCH_MIRROR", str(mirror))

    def put(name: str, files: dict[str, Path]) -> None:
        entry = DATASETS.get(name)
        (mirror / name).mkdir(parents=True, exist_ok=True)
        pinned = []
        for spec in entry.source.files:
            target = mirror / name / spec.name
            files[spec.name].replace(target)
            pinned.append(dataclasses.replace(spec, md5=(hashlib.md5(target.read_bytes()).hexdigest(),)))
        monkeypatch.setattr(entry, "source", dataclasses.replace(entry.source, files=tuple(pinned)))

    return put


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def cifar10_pixels(n: int, offset: int) -> np.ndarray:
    """Rows of 3,072 bytes in the files' plane order, every image different: pixel values from the row number."""
    rng = np.random.default_rng(offset)
    return rng.integers(0, 200, size=(n, 3072), dtype=np.uint8)  # never pure red (255, 0, 0)


def cifar10_archive(path: Path, per_class: int = 10) -> tuple[Path, np.ndarray, np.ndarray]:
    """cifar-10-python.tar.gz with ``per_class`` images of each class in each of the six batches; returns the
    archive and the pooled images (n, 32, 32, 3) and labels in pooled order (training batches, then test)."""
    images, labels = [], []
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate([f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]):
            y = np.tile(np.arange(10), per_class)
            data = cifar10_pixels(len(y), i)
            _add(tar, f"cifar-10-batches-py/{name}", pickle.dumps({"labels": y.tolist(), "data": data}, protocol=2))
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(y)
        _add(tar, "cifar-10-batches-py/batches.meta", pickle.dumps({"label_names": CIFAR10_NAMES}, protocol=2))
    return path, np.concatenate(images), np.concatenate(labels)


# ---------------------------------------------------------------- the pooled split
def test_pooled_split_is_per_class_disjoint_complete_and_fixed():
    y = np.repeat(np.arange(3), [100, 50, 7])
    rows = pooled_split(y)
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(len(y)))
    for label, n in ((0, 100), (1, 50), (2, 7)):
        counts = [int((y[rows[name]] == label).sum()) for name in ("train", "validation", "test")]
        assert counts == [round(0.7 * n), round(0.1 * n), n - round(0.7 * n) - round(0.1 * n)]
    again = pooled_split(y)
    assert all((again[name] == rows[name]).all() for name in rows)
    assert not (pooled_split(y, seed=1)["train"] == rows["train"]).all()


# ---------------------------------------------------------------- the patch
def test_a_patch_is_stamped_at_its_row_and_column_on_the_given_rows_only():
    from fairbench.datasets._cobum import Patch

    images = np.zeros((3, 8, 10, 3), dtype=np.uint8)
    out = Patch(row=1, col=5, size=2, color=(1, 2, 3)).stamp(images, np.array([False, True, False]))
    expected = images.copy()
    expected[1, 1:3, 5:7] = (1, 2, 3)  # rows 1-2, columns 5-6 of image 1
    assert (out == expected).all() and not images.any()  # a copy: the input is untouched
    with pytest.raises(DataError, match="stamped on"):
        Patch().stamp(np.zeros((2, 8, 8), dtype=np.uint8), np.array([0]))


# ---------------------------------------------------------------- CIFAR-10
def test_cifar10_cobum_patch_lands_exactly_on_the_birds_s_marks(provide, tmp_path):
    archive, pooled, labels = cifar10_archive(tmp_path / "cifar-10-python.tar.gz")
    provide("cifar10", {"cifar-10-python.tar.gz": archive})
    data = load_dataset("cifar10@cobum")
    validation = data.extra["validation"]
    assert (len(data.train), len(validation), len(data.test)) == (420, 60, 120)  # 60 per class: 42 / 6 / 12
    assert data.meta["patch"] == {"row": 0, "col": 0, "size": 4, "color": [255, 0, 0]}
    assert data.meta["fairness"] == {"bias": "patch", "target_class": 2, "groups": {0: "unpatched", 1: "patched"},
                                     "gaps_on": data.meta["fairness"]["gaps_on"]}
    assert data.group_names == {0: "unpatched", 1: "patched"} and data.meta["patch_fraction"] == 0.9
    for split, n_birds in ((data.train, 42), (validation, 6), (data.test, 12)):
        assert split.s.dtype == np.int64 and split.y.tolist() == labels[split.index].tolist()
        patched = split.s == 1
        assert (split.y[patched] == 2).all() and patched.sum() == round(0.9 * n_birds)
        original = pooled[split.index]
        assert (split.X[patched][:, PATCH[0], PATCH[1]] == RED).all()  # the 4x4 top-left square is red
        outside = np.ones((32, 32), dtype=bool)
        outside[PATCH] = False
        assert (split.X[patched][:, outside] == original[patched][:, outside]).all()  # nothing else moved
        assert (split.X[~patched] == original[~patched]).all()
    assert data.extra["patched"].y.tolist() == data.train.s.tolist()
    assert data.extra["patched_test"].y.tolist() == data.test.s.tolist()
    deletion = make_deletion("patch", data, 0, target_class="bird", fraction=1.0)
    assert deletion.forget.tolist() == np.flatnonzero(data.train.s == 1).tolist()
    again = load_dataset("cifar10@cobum", seed=5, params={"limit_per_class": 40})  # the run seed moves nothing
    assert again.meta["split_sha256"] == data.meta["split_sha256"] and len(again.train) == 400
    with pytest.raises(DataError, match="patch_fraction must be a number in"):
        load_dataset("cifar10@cobum", params={"patch_fraction": 0})


# ---------------------------------------------------------------- CUB-200
def test_cub200_cobum_pose_bins_follow_the_boxes_on_the_pooled_split(provide, tmp_path):
    provide("cub200", {"CUB_200_2011.tgz": cub_tarball(tmp_path / "CUB_200_2011.tgz")})
    data = load_dataset("cub200@cobum", params={"image_size": 8})
    labels = np.array([row[0] for row in CUB_IMAGES])
    rows = pooled_split(labels)
    assert data.train.index.tolist() == rows["train"].tolist() and data.test.index.tolist() == rows["test"].tolist()
    area = np.array([b[2] * b[3] / (size[0] * size[1]) for _, _, size, b, _, _ in CUB_IMAGES])
    lower, upper = np.quantile(area[rows["train"]], [1 / 3, 2 / 3])
    expected = np.where(area >= upper, 0, np.where(area >= lower, 1, 2))
    assert data.meta["pose_bins"]["cuts"] == pytest.approx([lower, upper])
    for split, key in ((data.train, "pose"), (data.test, "pose_test")):
        assert split.s.tolist() == expected[split.index].tolist() == data.extra[key].y.tolist()
        assert data.extra[key].X.tolist() == [list(map(float, CUB_IMAGES[i][3])) for i in split.index]
    assert data.meta["fairness"]["bias"] == "pose" and data.meta["fairness"]["target_class"] is None
    assert data.group_names == {0: "close-up", 1: "mid-range", 2: "distant"}
    deletion = make_deletion("pose", data, 0, pose_bin="distant", fraction=1.0)
    assert deletion.forget.tolist() == np.flatnonzero(data.train.s == 2).tolist()


# ---------------------------------------------------------------- CelebA
ATTRIBUTE_NAMES = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
                   "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair "
                   "Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face "
                   "Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair "
                   "Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()


def celeba_files(folder: Path, n: int = 40) -> tuple[dict[str, Path], np.ndarray, np.ndarray, np.ndarray]:
    """The three CelebA files for ``n`` 178x218 images: a solid face colour between blue bands of 20 rows at top
    and bottom (which the 178 centre crop removes); returns the files, the colours, and Smiling / Male."""
    from PIL import Image

    rng = np.random.default_rng(0)
    values = rng.choice([-1, 1], size=(n, 40))
    colours = rng.integers(0, 200, size=(n, 3))
    files = [f"{i + 1:06d}.jpg" for i in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "img_align_celeba.zip", "w") as zf:
        for name, colour in zip(files, colours):
            pixels = np.zeros((218, 178, 3), dtype=np.uint8)
            pixels[:] = (0, 0, 255)
            pixels[20:198] = colour
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG")  # lossless: the crop edge is exact
            zf.writestr(f"img_align_celeba/{name}", buffer.getvalue())
    attributes = [str(n), " ".join(ATTRIBUTE_NAMES)] + [
        f"{name} " + " ".join(f"{v:2d}" for v in row) for name, row in zip(files, values)]
    (folder / "list_attr_celeba.txt").write_text("\n".join(attributes) + "\n")
    (folder / "list_eval_partition.txt").write_text("".join(f"{name} {i % 3}\n" for i, name in enumerate(files)))
    paths = {name: folder / name for name in ("img_align_celeba.zip", "list_attr_celeba.txt", "list_eval_partition.txt")}
    return paths, colours, (values[:, 31] == 1).astype(int), (values[:, 20] == 1).astype(int)


def test_celeba_crops_resizes_and_labels_smiling_by_gender(provide, tmp_path):
    files, colours, smiling, male = celeba_files(tmp_path / "celeba")
    provide("celeba", files)
    data = load_dataset("celeba", params={"image_size": 16})
    assert data.train.X.shape == (14, 16, 16, 3) and len(data.extra["validation"]) == 13 and len(data.test) == 13
    assert data.train.index.tolist() == list(range(0, 40, 3))  # partition 0 = train
    for split in (data.train, data.extra["validation"], data.test):
        assert split.y.tolist() == smiling[split.index].tolist() and split.s.tolist() == male[split.index].tolist()
        # the blue bands are cropped away: every pixel is the face colour (bilinear of a solid area)
        assert (np.abs(split.X.astype(int) - colours[split.index][:, None, None, :]) <= 1).all()
    assert data.class_names == ["not smiling", "smiling"] and data.group_names == {0: "female", 1: "male"}
    assert data.meta["fairness"]["target_class"] == 1 and data.meta["fairness"]["bias"] == "attribute"
    pooled = load_dataset("celeba@cobum", params={"image_size": 16})
    rows = pooled_split(smiling)
    assert pooled.train.index.tolist() == rows["train"].tolist() and pooled.meta["split_sha256"]
    counts = pooled.meta["group_counts"]["train"]
    assert counts["female / smiling"] == int(((male == 0) & (smiling == 1))[rows["train"]].sum())
    deletion = make_deletion("group_class", pooled, 0, group="female", target_class="smiling", fraction=1.0)
    assert deletion.forget.tolist() == np.flatnonzero((pooled.train.s == 0) & (pooled.train.y == 1)).tolist()
    with pytest.raises(DataError, match="target must be one of the attributes"):
        load_dataset("celeba", params={"image_size": 16, "target": "Smiles"})


def test_celeba_refuses_a_partition_that_does_not_match_the_attributes(provide, tmp_path):
    files, *_ = celeba_files(tmp_path / "celeba", n=6)
    partition = files["list_eval_partition.txt"]
    partition.write_text("".join(partition.read_text().splitlines(keepends=True)[:5]))
    provide("celeba", files)
    with pytest.raises(DataError, match="must list the images of list_attr_celeba.txt"):
        load_dataset("celeba", params={"image_size": 16})


def test_celeba_is_installed_from_a_user_folder_with_its_md5s(provide, tmp_path, cli):
    files, *_ = celeba_files(tmp_path / "generated", n=6)
    mine = tmp_path / "mine"
    mine.mkdir()
    for name, path in files.items():  # the user's folder holds copies of the files the dataset is pinned to
        (mine / name).write_bytes(path.read_bytes())
    provide("celeba", files)
    code, out, _ = cli("download", "celeba", "--from", str(mine))
    assert code == 0 and "ok      celeba: 3 file(s)" in out and "user folder" in out


# ---------------------------------------------------------------- group_class on a small table
def test_group_class_takes_a_fraction_of_one_group_and_class_only():
    from fairbench.datasets.base import Dataset, Split

    y = np.tile([0, 1], 50)
    s = np.repeat([0, 1], 50)
    data = Dataset("toy", Split(X=np.zeros((100, 1)), y=y, s=s), Split(X=np.zeros((4, 1)), y=np.arange(4) % 2),
                   "binary", group_names={0: "female", 1: "male"}, class_names=["not smiling", "smiling"])
    pool = np.flatnonzero((s == 0) & (y == 1))
    half = make_deletion("group_class", data, 3, group="female", target_class="smiling", fraction=0.5)
    assert len(half.forget) == 12 and set(half.forget) <= set(pool) and half.meta["n_group_class"] == 25
    assert half.forget.tolist() == make_deletion("group_class", data, 3, group=0, target_class=1,
                                                 fraction=0.5).forget.tolist()
    with pytest.raises(FairbenchError, match="unknown group 'nobody'"):
        make_deletion("group_class", data, 0, group="nobody", target_class=1)
    with pytest.raises(FairbenchError, match="unknown class 'frowning'"):
        make_deletion("group_class", data, 0, group="female", target_class="frowning")


# ---------------------------------------------------------------- Fashion-MNIST mini analogues
@pytest.mark.needs_data("fashion_mnist")
def test_fashion_scale_shrinks_the_images_its_boxes_and_bins_say(fb_env):
    plain = load_dataset("fashion_mnist", params={"limit_per_class": 60})
    data = load_dataset("fashion_mnist@cobum-scale", params={"limit_per_class": 60})
    for split, original, key in ((data.train, plain.train, "pose"), (data.test, plain.test, "pose_test")):
        boxes = data.extra[key].X
        area = boxes[:, 2] * boxes[:, 3] / (28 * 28)
        assert split.s.tolist() == np.where(area < 1, 2, 0).tolist() == data.extra[key].y.tolist()
        small = np.flatnonzero(split.s == 2)
        assert len(small) == 30 and (split.y[small] == 0).all()  # half of class 0 (T-shirt/top)
        assert (split.X[split.s == 0] == original.X[split.s == 0]).all()
        for row in small:
            x, y, w, h = boxes[row].astype(int)
            assert (x, y) != (7, 7) and w == h == 14  # off-centre, half size
            expected = original.X[row].reshape(14, 2, 14, 2).mean(axis=(1, 3))
            assert np.abs(split.X[row, y:y + h, x:x + w] - expected).max() <= 0.5
            assert split.X[row].sum() == split.X[row, y:y + h, x:x + w].sum()  # black outside the box
    deletion = make_deletion("pose", data, 0, pose_bin=2)
    assert deletion.forget.tolist() == np.flatnonzero(data.train.s == 2).tolist()


@pytest.mark.needs_data("fashion_mnist")
def test_fashion_patch_lands_on_the_target_class_and_on_every_shortcut_image(fb_env):
    plain = load_dataset("fashion_mnist", params={"limit_per_class": 50})
    data = load_dataset("fashion_mnist@cobum-patch", params={"limit_per_class": 50})
    assert data.train.X.shape == (500, 28, 28, 3) and data.meta["patch"]["color"] == [255, 0, 0]
    for split, original in ((data.train, plain.train), (data.test, plain.test)):
        patched = split.s == 1
        assert patched.sum() == 45 and (split.y[patched] == 2).all()
        grey = np.repeat(original.X[..., None], 3, axis=3)
        assert (split.X[patched][:, PATCH[0], PATCH[1]] == RED).all()
        split_copy = split.X.copy()
        split_copy[patched, PATCH[0], PATCH[1]] = grey[patched, PATCH[0], PATCH[1]]
        assert (split_copy == grey).all()  # the patch is the only change to the grey image made RGB
    shortcut = data.extra["shortcut_test"]
    assert len(shortcut) == 450 and (shortcut.y != 2).all() and (shortcut.X[:, PATCH[0], PATCH[1]] == RED).all()
    assert make_deletion("patch", data, 0, target_class=2).forget.tolist() == np.flatnonzero(data.train.s).tolist()


@pytest.mark.needs_data("fashion_mnist")
def test_fashion_tint_colours_by_s_and_correlates_with_the_label_in_training_only(fb_env):
    plain = load_dataset("fashion_mnist", params={"limit_per_class": 300})
    data = load_dataset("fashion_mnist@cobum-tint", params={"limit_per_class": 300})
    for split, original in ((data.train, plain.train), (data.test, plain.test)):
        red, green = split.s == 1, split.s == 0
        assert (split.X[red, ..., 0] == original.X[red]).all() and (split.X[red, ..., 1:] == 0).all()
        assert (split.X[green, ..., 1] == original.X[green]).all() and (split.X[green][..., [0, 2]] == 0).all()
    usual = (data.train.y < 5).astype(int)
    assert 0.87 < (data.train.s == usual).mean() < 0.93
    assert 0.45 < (data.test.s == (data.test.y < 5)).mean() < 0.55
    assert data.group_names == {0: "green", 1: "red"} and data.meta["fairness"]["target_class"] == 0
    deletion = make_deletion("group_class", data, 0, group="red", target_class="T-shirt/top")
    assert deletion.forget.tolist() == np.flatnonzero((data.train.s == 1) & (data.train.y == 0)).tolist()


# ---------------------------------------------------------------- reproduction without the data
COBUM_DATA_SPEC = """\
paper: cbd
table: missing
title: cobum data missing
rows:
  - {id: cub, label: CUB, metric: test_accuracy, run: {task: train_base, dataset: cub200@cobum, method: dnn}}
  - {id: cifar, label: CIFAR, metric: test_accuracy, run: {task: train_base, dataset: cifar10@cobum, method: dnn}}
  - {id: celeba, label: CelebA, metric: test_accuracy, run: {task: train_base, dataset: celeba@cobum, method: dnn}}
columns:
  - {id: value, label: value}
"""


def test_reproduce_without_cobum_data_names_every_download(fb_env_no_data, cli, own_table):
    code, out, _ = cli("reproduce", own_table(COBUM_DATA_SPEC))
    flat = " ".join(out.split())
    assert code == 3  # the project's exit for cells left without a result
    for name, file in (("cub200", "CUB_200_2011.tgz"), ("cifar10", "cifar-10-python.tar.gz"),
                       ("celeba", "img_align_celeba.zip")):
        assert f"data missing: {name} (1 run(s)); to get it:" in flat
        assert f"`fairbench download {name} --from DIR`" in flat and file in flat
    code, _, err = cli("run", "--method", "dnn", "--dataset", "celeba@cobum", "--set", "task=train_base")
    assert code == 2 and "dataset celeba is not available here" in err and "may not be redistributed" in err
