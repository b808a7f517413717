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

from typing import Any

import torch
from torch.nn import functional as F

from ...core.errors import FairbenchError
from ...datasets.base import Split
from ..learners._torch_classifier import (
    batches, check_nonnegative, check_positive, check_torch_classifier, descend, frozen_copy, generator,
    kl_teacher_student, optimiser, split_tensors, student_copy, threads_limited,
)
from ..base import MethodEntry
from ..registry import register_method

PRESETS = {
    "small": {"optimizer": "adam", "lr": 5e-4, "weight_decay": 0.1, "momentum": 0.9, "epochs": 10, "msteps": 3,
              "lr_decay_epochs": (5, 8, 9), "lr_decay": 0.1, "alpha": 0.5, "gamma": 1.0, "kd_T": 2.0,
              "retain_batch": 128, "forget_batch": 32},
    "large": {"optimizer": "sgd", "lr": 5e-4, "weight_decay": 5e-4, "momentum": 0.9, "epochs": 3, "msteps": 2,
              "lr_decay_epochs": (3, 5, 9), "lr_decay": 0.1, "alpha": 0.001, "gamma": 0.99, "kd_T": 4.0,
              "retain_batch": 128, "forget_batch": 32},
}


class Scrub:
    def __init__(self, preset: str = "small", random_state: int | None = None, **overrides: Any):
        if preset not in PRESETS:
            raise FairbenchError(f"SCRUB preset must be one of {', '.join(PRESETS)}, got '{preset}'")
        unknown = sorted(set(overrides) - set(PRESETS[preset]))
        if unknown:
            raise FairbenchError(f"SCRUB takes {', '.join(sorted(PRESETS[preset]))}; unknown: {', '.join(unknown)}")
        cfg = {**PRESETS[preset], **overrides}
        check_positive(lr=cfg["lr"], epochs=cfg["epochs"], kd_T=cfg["kd_T"], retain_batch=cfg["retain_batch"],
                       forget_batch=cfg["forget_batch"])
        check_nonnegative(alpha=cfg["alpha"], gamma=cfg["gamma"], msteps=cfg["msteps"],
                          weight_decay=cfg["weight_decay"])
        self.preset, self.random_state = preset, random_state
        for key, value in cfg.items():
            setattr(self, key, value)

    def lr_at(self, epoch: int) -> float:
        return self.lr * self.lr_decay ** sum(epoch >= e for e in self.lr_decay_epochs)

    @threads_limited
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        check_torch_classifier(model, "SCRUB")
        gen = generator(self.random_state)
        teacher = frozen_copy(model.network_)
        student = student_copy(model.network_)
        xf, _ = split_tensors(model, forget)
        xr, yr = split_tensors(model, retain)
        opt = optimiser(student.parameters(), self.optimizer, self.lr, momentum=self.momentum,
                        weight_decay=self.weight_decay)
        for epoch in range(int(self.epochs)):
            for group in opt.param_groups:
                group["lr"] = self.lr_at(epoch)
            if epoch < self.msteps:
                for rows in batches(len(xf), int(self.forget_batch), gen):
                    with torch.no_grad():
                        t = teacher(xf[rows])
                    loss = -kl_teacher_student(t, student(xf[rows]), self.kd_T)
                    descend(opt, loss)
            for rows in batches(len(xr), int(self.retain_batch), gen):
                with torch.no_grad():
                    t = teacher(xr[rows])
                s = student(xr[rows])
                loss = self.gamma * F.cross_entropy(s, yr[rows]) + self.alpha * kl_teacher_student(t, s, self.kd_T)
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
    )
)
