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
from .._checks import check_choice, check_nonnegative
from ..base import MethodEntry
from ..registry import register_method

STRATEGIES = ("label",)


class KDCRec(Recommender):
    uses_unbiased = True

    def __init__(self, kd_strategy: str = "label", kd_weight: float = 0.5, teacher_lr: float | None = None,
                 teacher_weight_decay: float | None = None, lr: float = 0.005, batch_size: int = 256,
                 loss: str = "mse", **base):
        super().__init__(lr=lr, batch_size=batch_size, loss=loss, **base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        check_choice("kd_strategy", self.kd_strategy, STRATEGIES)
        check_nonnegative(kd_weight=self.kd_weight)

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
        kd_weight = float(self.kd_weight)
        self.targets_ = (data.biased.labels + kd_weight * t) / (1.0 + kd_weight)
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
    )
)
