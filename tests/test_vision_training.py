"""Image learners (resnet18, resnet34, resnet_mini), their pipeline, and the model-agnostic unlearners on
images: every check runs on the CPU in seconds on a tiny random uint8 image set."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from fairbench.core.errors import FairbenchError
from fairbench.datasets.base import Split
from fairbench.methods import METHODS
from fairbench.methods.learners import resnet
from fairbench.methods.learners._images import Augmentation, Preparation, image_tensor, resolve_device
from fairbench.methods.state import export_state, restore_state
from fairbench.methods.unlearning.cfdebias import Intervention, feature_mask

ONE_STEP = {"epochs": 1, "batch_size": 32}
LEARNERS = {"resnet_mini": {}, "resnet18": {"pretrained": "none"}, "resnet34": {"pretrained": "none"}}


def images(n: int = 32, size: int = 16, channels: int | None = 3, classes: int = 4, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    shape = (n, size, size) if channels is None else (n, size, size, channels)
    return Split(rng.integers(0, 256, shape, dtype=np.uint8), np.arange(n, dtype=np.int64) % classes,
                 index=np.arange(1000, 1000 + n))


def fitted(name: str, data: Split, **params):
    return METHODS.get(name).factory(**{**LEARNERS[name], **ONE_STEP, **params}).fit(data.X, data.y)


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_learner_fits_one_step_and_is_a_pure_function_of_its_seed(name):
    data = images()
    model = fitted(name, data)
    proba = model.predict_proba(data.X)
    assert proba.shape == (32, 4) and np.allclose(proba.sum(axis=1), 1)
    assert model.predict(data.X).shape == (32,)
    np.testing.assert_array_equal(proba, fitted(name, data).predict_proba(data.X))
    assert not np.array_equal(proba, fitted(name, data, random_state=1).predict_proba(data.X))
    spec, arrays = export_state(model)  # stored as data, rebuilt without any weights file
    np.testing.assert_array_equal(restore_state(spec, arrays, name).predict_proba(data.X), proba)


@pytest.mark.parametrize("name", ["resnet_mini", "resnet18"])
def test_grey_images_without_a_channel_axis(name):
    data = images(channels=None)
    model = fitted(name, data)
    assert model.tensor(data.X[:5]).shape[1] == (1 if name == "resnet_mini" else 3)  # grey repeated for ResNet-18
    assert model.predict_proba(data.X).shape == (32, 4)


def test_a_one_image_trailing_batch_is_skipped_with_batch_norm():
    data = images(n=33)  # batches of 16, 16 and 1; ResNet-18's last feature map at 16x16 is 1x1
    model = fitted("resnet18", data, batch_size=16)
    assert model.predict_proba(data.X).shape == (33, 4)


def test_tabular_input_is_refused_in_one_line():
    with pytest.raises(FairbenchError, match="images"):
        METHODS.get("resnet_mini").factory(**ONE_STEP).fit(np.zeros((10, 4)), np.arange(10) % 2)
    with pytest.raises(FairbenchError, match="grey or 3-channel"):
        fitted("resnet18", images(channels=4))


def test_imagenet_weights_missing_offline_say_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setenv("FAIRBENCH_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FairbenchError) as err:
        METHODS.get("resnet18").factory(**ONE_STEP).fit(images().X, images().y)
    message = str(err.value)
    assert "\n" not in message and "weights='IMAGENET1K_V1'" in message and "pretrained: none" in message


def test_imagenet_weights_are_hash_checked_and_loaded(monkeypatch, tmp_path):
    state = resnet.torchvision_resnet(18, 1000).body.state_dict()
    raw = tmp_path / "weights.pth"
    torch.save(state, raw)
    prefix = hashlib.sha256(raw.read_bytes()).hexdigest()[:8]
    good = tmp_path / f"resnet18-{prefix}.pth"
    raw.rename(good)
    monkeypatch.setattr(resnet, "_hub_file", lambda weights: good)
    network = resnet.ResNet18Classifier().initial_network(3, 4, seed=0)
    assert torch.equal(network.body.conv1.weight, state["conv1.weight"])
    assert network.head.out_features == 4
    bad = tmp_path / "resnet18-00000000.pth"
    good.rename(bad)
    monkeypatch.setattr(resnet, "_hub_file", lambda weights: bad)
    with pytest.raises(FairbenchError, match="SHA-256"):
        resnet.ResNet18Classifier().initial_network(3, 4, seed=0)


def test_device_choice():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(FairbenchError, match="device must be one of"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(FairbenchError, match="no CUDA"):
            resolve_device("cuda")


def test_augmentation_crops_and_flips_each_image_on_its_own():
    batch = image_tensor(images(n=8, size=6).X, torch.device("cpu"))
    flipped = Augmentation("flip")(batch, torch.Generator().manual_seed(0))
    for original, out in zip(batch, flipped):
        assert torch.equal(out, original) or torch.equal(out, original.flip(2))
    assert not torch.equal(flipped, batch) and not torch.equal(flipped, batch.flip(3))  # drawn per image
    cropped = Augmentation("crop_flip", padding=2)(batch, torch.Generator().manual_seed(1))
    assert cropped.shape == batch.shape and cropped.dtype == torch.uint8
    padded = torch.nn.functional.pad(batch, (2, 2, 2, 2))
    for i in range(len(batch)):  # every output is a window of the zero-padded image, possibly mirrored
        windows = [padded[i, :, r : r + 6, c : c + 6] for r in range(5) for c in range(5)]
        assert any(torch.equal(cropped[i], w) or torch.equal(cropped[i], w.flip(2)) for w in windows)
    again = Augmentation("crop_flip", padding=2)(batch, torch.Generator().manual_seed(1))
    assert torch.equal(cropped, again)


def test_preparation_normalises_per_channel_and_resizes():
    batch = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)
    x = Preparation((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), image_size=8)(batch)
    assert x.shape == (2, 3, 8, 8) and torch.allclose(x, torch.full_like(x, 2.0))


# -- the model-agnostic unlearners on the image model --------------------------------------------

UNLEARNERS = {"retrain": {}, "bt": {}, "bs": {"epochs": 2}, "scrub": {"preset": "large", "epochs": 1},
              "puma": {"parameters": "head", "cg_iterations": 5}}


@pytest.fixture(scope="module")
def image_problem():
    data = images(n=48)
    model = fitted("resnet_mini", data, epochs=2, batch_size=16)
    forget = np.isin(data.y, [1])  # class deletion of class 1
    return model, data.subset(forget), data.subset(~forget)


def _unlearned(name, image_problem, random_state):
    model, forget, retain = image_problem
    unlearner = METHODS.get(name).factory(**UNLEARNERS[name])
    if "random_state" in unlearner.get_params():
        unlearner.set_params(random_state=random_state)
    return unlearner.unlearn(model, forget, retain).predict_proba(np.concatenate([forget.X, retain.X]))


@pytest.mark.parametrize("name", sorted(UNLEARNERS))
def test_unlearner_runs_on_images_and_is_deterministic_per_seed(name, image_problem):
    model, forget, retain = image_problem
    before = model.predict_proba(forget.X)
    first = _unlearned(name, image_problem, 3)
    assert first.shape == (48, 4) and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, _unlearned(name, image_problem, 3))
    assert not np.allclose(first[: len(forget)], before)  # the model did change
    np.testing.assert_array_equal(model.predict_proba(forget.X), before)  # the original is left untouched


def test_sisa_on_images_refits_only_the_hit_shard():
    data = images(n=48)
    ensemble = METHODS.get("sisa_ensemble").factory(shards=3, learner="resnet_mini", epochs=1, batch_size=8)
    ensemble.fit(data.X, data.y, index=data.index)
    assert ensemble.predict_proba(data.X).shape == (48, 4)
    shard = ensemble.shard_of(data.index)
    forget = (shard == 1) & (np.arange(48) % 2 == 0)
    out = METHODS.get("sisa").factory().unlearn(ensemble, data.subset(forget), data.subset(~forget))
    assert out.models_[0] is ensemble.models_[0] and out.models_[2] is ensemble.models_[2]
    assert out.models_[1] is not ensemble.models_[1]
    refit, old = out.models_[1].network_.state_dict(), ensemble.models_[1].network_.state_dict()
    assert any(not torch.equal(refit[k], old[k]) for k in refit)
    assert len(out.index_) == 48 - forget.sum()


def test_cfdebias_masks_and_intervenes_per_pixel_on_images(image_problem):
    """The image-generic parts of cfdebias (its image counterfactual generator, cfdebias.md 3.8, is not
    part of this code yet): one mask per pixel over the model's normalised input, half the pixels."""
    model, forget, _ = image_problem
    x = model.tensor(forget.X)
    y = torch.as_tensor(forget.y)
    mask = feature_mask(model.network_, x, y, 0.5, None)
    assert mask.shape == x.shape and torch.equal(mask[:, 0], mask[:, -1])
    assert torch.all(mask[:, 0].reshape(len(x), -1).sum(dim=1) == x.shape[2] * x.shape[3] // 2)
    intervene = Intervention(x, y, mask, 0.2, [0, 0, 1, 1])
    out = intervene(x, mask, y)
    assert torch.equal(out[mask], intervene.background.expand_as(x)[mask])  # background pixels: the pool's mean
    assert torch.allclose(out[~mask], (x + 0.2 * intervene.causal_mean[y])[~mask])
    assert model.network_.features(x).shape == (len(x), model.network_.head.in_features)
