"""Gradient Ascent (cobum.md §1.3 item 2, after Thudi et al., "Unrolling SGD", arXiv 2109.13398).

Ascent on the forget set while descending on the retain set. The paper's equation is lost; its text keeps
"η is the ascent learning rate, [a coefficient] is set to 1, ℓ is cross-entropy". Reconstructed
[cobum.md §1.3]: per step, with a forget batch B_f and a retain batch B_r,

    θ ← θ + η·∇ℓ(B_f; θ) − λ·η·∇ℓ(B_r; θ),   λ = ``retain_weight`` = 1,

i.e. the optimiser minimises λ·ℓ(B_r) − ℓ(B_f) (Adam, lr 1e-4, as all of the paper's methods).

An epoch is one pass over ``epoch_over``: the forget set by default (the paper's GA times are a fraction
of an epoch over the training data, e.g. 80 s on CelebA against 1,310 s for 10 retraining epochs);
``trainable`` None trains what the original model trained (cobum's CIFAR-10 linear probe: the head).
"""

from __future__ import annotations

from typing import Any

from torch.nn import functional as F

from ...datasets.base import Split
from .._checks import check_nonnegative
from .._threads import limited_threads
from ..base import MethodEntry
from ..registry import register_method
from ._finetune import Batch, FineTuning


class GradientAscent(FineTuning):
    def __init__(self, retain_weight: float = 1.0, epoch_over: str = "forget", trainable: str | None = None,
                 **base: Any):
        super().__init__(**base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        check_nonnegative(retain_weight=self.retain_weight)

    def objective(self, student, forget: Batch, retain: Batch):
        """λ·ℓ(B_r) − ℓ(B_f): descending it ascends the forget loss."""
        (xf, yf), (xr, yr) = forget, retain
        return float(self.retain_weight) * F.cross_entropy(student(xr), yr) - F.cross_entropy(student(xf), yf)

    @limited_threads()
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        return self.tune_student(model, forget, retain, self.trainable, self.epoch_over, self.objective)


register_method(
    MethodEntry(
        name="ga",
        kind="unlearner",
        factory=GradientAscent,
        task="unlearn",
        version="1",
        description="Gradient Ascent (cobum): minimise λ·CE(D_r) − CE(D_f), Adam, one forget and one retain batch a step",
        papers=("cobum",),
        needs_model=("network", "image_network"),
    )
)
