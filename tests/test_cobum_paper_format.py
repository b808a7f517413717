"""Issue 15, acceptance 2: with files in the paper datasets' real on-disk layouts (generated:
``cifar-10-python.tar.gz``, ``CUB_200_2011.tgz``, CelebA's zip and lists) each cobum setting loads through its
``@cobum`` variant, its Table 2 protocol draws D_f, and every method of its Table 2 rows -- Baseline (ori),
Hard Unlearning (retrain), Gradient Ascent, LoRA on torchvision's block names, the single-phase SCRUB with the
retrain as teacher, FMD where the paper runs it -- takes a training step on torchvision's ResNet-18 (no
pretrained weights: offline), on the CPU in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.datasets import load_dataset
from fairbench.methods import METHODS
from fairbench.protocols import make_deletion
from tests.test_cobum_data import celeba_files, cifar10_archive, provide  # noqa: F401 (provide: fixture)
from tests.test_vision_datasets import cub_tarball

ONE_STEP = {"epochs": 1, "batch_size": 256, "random_state": 0}


def _cifar10(tmp_path):
    return "cifar10", {"cifar-10-python.tar.gz": cifar10_archive(tmp_path / "cifar-10-python.tar.gz")[0]}


# 3 classes x 10 images, boxes from 5 % to 95 % of a 60x60 image: every pose bin holds several training images
CUB_MANY = [(label, 1, (60, 60), (0, 0, 6 + 6 * k, 6 + 5 * k), (20 * k, 80 * (label % 3), 100), "PNG")
            for label in (0, 16, 199) for k in range(10)]


def _cub200(tmp_path):
    return "cub200", {"CUB_200_2011.tgz": cub_tarball(tmp_path / "CUB_200_2011.tgz", rows=CUB_MANY)}


def _celeba(tmp_path):
    return "celeba", celeba_files(tmp_path / "celeba")[0]


# variant, its files, loader parameters, Table 2's protocol, the Baseline's learner settings, rows' methods
SETTINGS = {
    "cifar10@cobum": (_cifar10, {}, ("patch", {"target_class": 2, "fraction": 1.0}), {"trainable": "fc"},
                      {"ga": {}, "lora": {"rank": 2, "blocks": ["layer4"]}, "scrub_cobum": {},
                       "fmd_finetune": {"counterfactual": "patch_mask"}}),
    "cub200@cobum": (_cub200, {"image_size": 32}, ("pose", {"pose_bin": 2, "fraction": 1.0}), {"trainable": "all"},
                     {"ga": {}, "lora": {"rank": 2, "blocks": ["layer3", "layer4"]}, "scrub_cobum": {},
                      "fmd_finetune": {"counterfactual": "pose_resample", "trainable": "fc"}}),
    "celeba@cobum": (_celeba, {"image_size": 32}, ("group_class", {"group": "female", "target_class": "smiling",
                                                                    "fraction": 1.0}), {"loss": "bce"},
                     {"ga": {}, "lora": {"rank": 2, "blocks": ["layer3", "layer4"]}, "scrub_cobum": {}}),
}


@pytest.mark.parametrize("variant", sorted(SETTINGS))
def test_every_table2_method_takes_a_step_on_paper_format_files(variant, provide, tmp_path):  # noqa: F811
    build, params, (protocol, protocol_params), learner, methods = SETTINGS[variant]
    provide(*build(tmp_path))
    data = load_dataset(variant, params=params)
    deletion = make_deletion(protocol, data, 0, **protocol_params)
    forget, retain = data.train.subset(deletion.forget), data.train.subset(deletion.retain)
    assert len(forget) and len(retain)

    model = METHODS.get("resnet18").factory(pretrained="none", **learner, **ONE_STEP).fit(data.train.X, data.train.y)
    assert METHODS.get("ori").factory().unlearn(model, forget, retain) is model  # the Baseline row
    reference = METHODS.get("retrain").factory(epochs=1).unlearn(model, forget, retain)  # Hard Unlearning, the gold
    context = {"reference": reference, "dataset_meta": data.meta}
    for name, extra in methods.items():
        unlearner = METHODS.get(name).factory(**{**ONE_STEP, **extra})
        unlearner.receive(**{key: context[key] for key in unlearner.receives})
        unlearned = unlearner.unlearn(model, forget, retain)
        proba = unlearned.predict_proba(data.test.X)
        assert proba.shape == (len(data.test), 2 if learner.get("loss") == "bce" else model.n_classes_), name
        assert np.all(np.isfinite(proba)) and unlearner.report_["steps"] >= 1, name
