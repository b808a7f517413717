"""KDCRec (Liu et al., TKDE 2022), label-based knowledge distillation from the uniform data.

A teacher MF is trained on the unbiased ratings A (early-stopped on the validation AUC like every
model here); the student MF is trained on O with soft labels mixing the observed label and the
teacher's min-max-normalised prediction, (r + kd_weight * t~) / (1 + kd_weight). The AutoDebias
re-implementation adds t~ to +-1 labels under a squared loss; the convex mixture is the same idea for
{0, 1} labels under the log loss (ultd.md §5.7; only the label-based strategy is implemented).
"""

from __future__ import annotations

import torch

from ._mf import Recommender, fit_supervised, supervised_epoch
from ..base import MethodEntry
from ..registry import register_method

STRATEGIES = ("label",)


class KDCRec(Recommender):
    uses_unbiased = True

    def __init__(self, kd_strategy: str = "label", kd_weight: float = 1.0, teacher_lr: float | None = None,
                 teacher_weight_decay: float | None = None, **base):
        super().__init__(**base)
        if kd_strategy not in STRATEGIES:
            raise ValueError(f"kd_strategy {kd_strategy!r} is not implemented; available: {STRATEGIES}")
        if kd_weight < 0:
            raise ValueError("kd_weight must be >= 0")
        self.kd_strategy = kd_strategy
        self.kd_weight = float(kd_weight)
        self.teacher_lr = teacher_lr
        self.teacher_weight_decay = teacher_weight_decay

    def _build(self, data):
        super()._build(data)
        teacher = self.new_mf(data)
        info = fit_supervised(
            teacher, data.unbiased, data, lr=self.teacher_lr or self.lr, batch_size=self.batch_size, loss=self.loss,
            weight_decay=self.weight_decay if self.teacher_weight_decay is None else self.teacher_weight_decay,
            max_epochs=self.max_epochs, patience=self.patience)
        with torch.no_grad():
            t = torch.sigmoid(teacher(data.biased.users, data.biased.items))
        t = (t - t.min()) / (t.max() - t.min()).clamp(min=1e-12)
        self.targets_ = (data.biased.labels + self.kd_weight * t) / (1.0 + self.kd_weight)
        self.diagnostics_ = {"teacher_best_epoch": info["best_epoch"], "teacher_valid_auc": info["best_valid"]}

    def _train_epoch(self, data):
        return {"loss": supervised_epoch(self.model, self.opt, data.biased, self.batch_size, self.loss, self.targets_)}


register_method(
    MethodEntry(
        name="kdcrec",
        kind="recommender",
        factory=KDCRec,
        task="recommend",
        version="2",
        description="KDCRec (label-based): student MF on biased labels softened by a teacher MF trained on unbiased data",
        papers=("ultd",),
        defaults={"emb_dim": 64, "lr": 0.005, "batch_size": 256, "weight_decay": 0.0001, "bias": True, "loss": "mse", "kd_weight": 0.5},
    )
)
