"""SCRUB (Kurmanji et al., NeurIPS 2023; arXiv 2302.09880): max-min teacher–student unlearning.

The student starts from the original model, the teacher is the original model, frozen. Each epoch:
max-steps over D_f (first ``msteps`` epochs only) minimising −KL_T(teacher ‖ student), then
min-steps over D_r minimising γ·CE + α·KL_T(teacher ‖ student); the learning rate is multiplied by
``lr_decay`` at each epoch in ``lr_decay_epochs`` (the reference's ``adjust_learning_rate``).

Defaults: the reference's small-scale setting, which cfdebias.md §3.6 assigns to tabular data: Adam,
lr 5e-4, weight decay 0.1, 10 epochs, msteps 3, decay ×0.1 at epochs 5, 8, 9, α = 0.5, γ = 1,
kd_T = 2, retain batch 128, forget batch 32 (``meghdadk/SCRUB``). The reference's ``smoothing``
setting is not a loss term in its training loop and is not reproduced. ``preset="large"`` gives the
large-scale setting (SGD, lr 5e-4, momentum 0.9, wd 5e-4, 3 epochs, msteps 2, α = 0.001, γ = 0.99,
kd_T = 4) for image models; explicit parameters override the preset.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch.nn import functional as F

from ...datasets.base import Split
from .._checks import check_choice, check_nonnegative, check_positive
from ..learners._torch_classifier import (
    batches, check_torch_classifier, descend, frozen_copy, kl_teacher_student, optimiser, smallest_batch,
    split_tensors, student_copy,
)
from .._random import torch_generator
from .._threads import limited_threads
from ..base import MethodEntry, Unlearner
from ..registry import register_method

PRESETS = {
    "small": {"optimizer": "adam", "lr": 5e-4, "weight_decay": 0.1, "momentum": 0.9, "epochs": 10, "msteps": 3,
              "lr_decay_epochs": (5, 8, 9), "lr_decay": 0.1, "alpha": 0.5, "gamma": 1.0, "kd_T": 2.0,
              "retain_batch": 128, "forget_batch": 32},
    "large": {"optimizer": "sgd", "lr": 5e-4, "weight_decay": 5e-4, "momentum": 0.9, "epochs": 3, "msteps": 2,
              "lr_decay_epochs": (3, 5, 9), "lr_decay": 0.1, "alpha": 0.001, "gamma": 0.99, "kd_T": 4.0,
              "retain_batch": 128, "forget_batch": 32},
}


class Scrub(Unlearner):
    """Every setting but ``preset`` and ``random_state`` defaults to None: the preset's value."""

    def __init__(self, preset: str = "small", optimizer: str | None = None, lr: float | None = None,
                 weight_decay: float | None = None, momentum: float | None = None, epochs: int | None = None,
                 msteps: int | None = None, lr_decay_epochs: Sequence[int] | None = None,
                 lr_decay: float | None = None, alpha: float | None = None, gamma: float | None = None,
                 kd_T: float | None = None, retain_batch: int | None = None, forget_batch: int | None = None,
                 random_state: int | None = None):
        self._store(locals())

    def settings(self) -> dict[str, Any]:
        """The preset with the explicitly given settings on top."""
        check_choice("preset", self.preset, PRESETS)
        given = {key: getattr(self, key) for key in PRESETS[self.preset] if getattr(self, key) is not None}
        return {**PRESETS[self.preset], **given}

    def _check_params(self) -> None:
        cfg = self.settings()
        check_positive(lr=cfg["lr"], epochs=cfg["epochs"], kd_T=cfg["kd_T"], retain_batch=cfg["retain_batch"],
                       forget_batch=cfg["forget_batch"])
        check_nonnegative(alpha=cfg["alpha"], gamma=cfg["gamma"], msteps=cfg["msteps"],
                          weight_decay=cfg["weight_decay"])

    @staticmethod
    def lr_at(cfg: dict[str, Any], epoch: int) -> float:
        return cfg["lr"] * cfg["lr_decay"] ** sum(epoch >= e for e in cfg["lr_decay_epochs"])

    @limited_threads()
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        cfg = self.settings()
        check_torch_classifier(model, "SCRUB")
        gen = torch_generator(self.random_state)
        teacher = frozen_copy(model.network_)
        student = student_copy(model.network_)
        xf, _ = split_tensors(model, forget)
        xr, yr = split_tensors(model, retain)
        opt = optimiser(student.parameters(), cfg["optimizer"], cfg["lr"], momentum=cfg["momentum"],
                        weight_decay=cfg["weight_decay"])
        smallest = smallest_batch(student)
        for epoch in range(int(cfg["epochs"])):
            for group in opt.param_groups:
                group["lr"] = self.lr_at(cfg, epoch)
            if epoch < cfg["msteps"]:
                for rows in batches(len(xf), int(cfg["forget_batch"]), gen, min_size=smallest):
                    with torch.no_grad():
                        t = teacher(xf[rows])
                    loss = -kl_teacher_student(t, student(xf[rows]), cfg["kd_T"])
                    descend(opt, loss)
            for rows in batches(len(xr), int(cfg["retain_batch"]), gen, min_size=smallest):
                with torch.no_grad():
                    t = teacher(xr[rows])
                s = student(xr[rows])
                loss = (cfg["gamma"] * F.cross_entropy(s, yr[rows])
                        + cfg["alpha"] * kl_teacher_student(t, s, cfg["kd_T"]))
                descend(opt, loss)
        return model.with_network(student.eval())


register_method(
    MethodEntry(
        name="scrub",
        kind="unlearner",
        factory=Scrub,
        task="unlearn",
        version="1",
        description="SCRUB (Kurmanji et al. 2023): max-steps away from the teacher on D_f, min-steps (CE + KL) on D_r",
        papers=("cfdebias",),
        needs_model=("network", "image_network"),
    )
)
