"""Issue 14, acceptance 2: with files in the paper datasets' real on-disk layout (generated: CIFAR-100's
``cifar-100-python.tar.gz``, CUB's ``CUB_200_2011.tgz``) every method of cfdebias Table 1 -- Retrain, BT, BS,
SISA, PUMA, SCRUB and Ours (cfdebias with image counterfactuals) -- gets through one training step on
torchvision's ResNet-18 without pretrained weights (offline), on the CPU in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.datasets import load_dataset
from fairbench.methods import METHODS
from tests.test_vision_datasets import cifar100_tarball, cub_tarball, image_env  # noqa: F401 (image_env: fixture)
from tests.test_vision_training import UNLEARNERS

ONE_STEP = {"epochs": 1, "batch_size": 256}
RESNET = {"pretrained": "none", **ONE_STEP}
# (dataset, loader parameters, archive builder, the class deleted here, SISA shards)
PAPER_SETS = {
    "cifar100": ({}, cifar100_tarball, 65, 2),  # Rabbit; 32x32, as Table 1 runs it
    # Cardinal; 64 px instead of 224 to stay within seconds; the generated CUB has 4 training images, too few
    # for two shards of at least two classes
    "cub200": ({"image_size": 64}, cub_tarball, 16, 1),
}
TABLE1 = {**UNLEARNERS, "cfdebias": {"epochs": 1, "batch_size": 256}}


@pytest.fixture(params=sorted(PAPER_SETS))
def paper_problem(request, image_env, tmp_path):  # noqa: F811 (image_env is the imported fixture)
    name = request.param
    params, build, deleted, shards = PAPER_SETS[name]
    image_env(name, build(tmp_path / "archive.tar.gz"))
    data = load_dataset(name, params=params)
    forget = data.train.y == deleted
    assert forget.any() and (~forget).any()
    return data, data.train.subset(forget), data.train.subset(~forget), shards


def test_every_table1_method_takes_a_training_step_on_paper_format_files(paper_problem):
    data, forget, retain, shards = paper_problem
    model = METHODS.get("resnet18").factory(**RESNET).fit(data.train.X, data.train.y)
    for name, params in sorted(TABLE1.items()):
        if name == "cfdebias":  # the paper specs' setting: the concept map comes from the loader's meta
            params = {**params, "concepts": "dataset", "random_state": 0}
        unlearner = METHODS.get(name).factory(**params)
        if unlearner.receives:  # what the unlearn task hands in before prepare
            unlearner.receive(dataset_meta=data.meta)
        unlearned = unlearner.unlearn(model, forget, retain)
        proba = unlearned.predict_proba(data.test.X)
        assert proba.shape == (len(data.test.y), model.n_classes_) and np.all(np.isfinite(proba)), name
    assert model.n_classes_ <= len(data.class_names)

    ensemble = METHODS.get("sisa_ensemble").factory(shards=shards, learner="resnet18", **RESNET)
    ensemble.fit(data.train.X, data.train.y, index=data.train.index)
    out = METHODS.get("sisa").factory().unlearn(ensemble, forget, retain)
    assert np.all(np.isfinite(out.predict_proba(data.test.X)))
