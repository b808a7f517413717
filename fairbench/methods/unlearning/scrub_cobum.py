"""cobum's single-phase teacher–student unlearning ("SCRUB" in cobum Table 2; cobum.md §1.3 item 4, §6.3).

The teacher is the run's reference model, the oracle retrained on D_r only (not the original model, as in
the original SCRUB, which stays available as ``scrub``); the student starts from the original model. With
K(x) = KL(p_T(x) ‖ p_S(x)) on the softmax outputs, one phase minimises

    E_{x∈D_r}[K(x)] − ``forget_weight``·E_{x∈D_f}[K(x)] + ``ce_weight``·CE(D_r),

one retain and one forget batch a step (forget_weight 1; ce_weight 0: Sec. 2's objective has no task loss,
cobum.md §1.3 recommends 0, configurable). The teacher reaches the unlearner from its run (``receives``:
the reference), so the time of this method excludes the teacher's training (cobum.md §6.3); the run records
that separately (``reference_seconds``). An epoch is one pass over D_r by default (the paper's SCRUB time
on CelebA, 741 s, is about 5.6 of its retraining epochs).
"""

from __future__ import annotations

from typing import Any

from torch.nn import functional as F

from ...datasets.base import Split
from .._checks import check_nonnegative, check_positive
from .._threads import limited_threads
from ..base import MethodEntry
from ..learners._torch_classifier import check_torch_classifier, frozen_copy, kl_teacher_student
from ..registry import register_method
from ._finetune import Batch, FineTuning


class ScrubCobum(FineTuning):
    receives = ("reference",)

    def __init__(self, forget_weight: float = 1.0, ce_weight: float = 0.0, temperature: float = 1.0,
                 epoch_over: str = "retain", trainable: str | None = None, **base: Any):
        super().__init__(**base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        check_nonnegative(forget_weight=self.forget_weight, ce_weight=self.ce_weight)
        check_positive(temperature=self.temperature)

    def objective(self, teacher, student, forget: Batch, retain: Batch):
        """E_r[K] − forget_weight·E_f[K] + ce_weight·CE(D_r), K = KL(teacher ‖ student) at ``temperature``."""
        (xf, _), (xr, yr) = forget, retain
        T = float(self.temperature)
        retain_logits = student(xr)
        loss = (kl_teacher_student(teacher(xr), retain_logits, T)
                - float(self.forget_weight) * kl_teacher_student(teacher(xf), student(xf), T))
        if self.ce_weight:
            loss = loss + float(self.ce_weight) * F.cross_entropy(retain_logits, yr)
        return loss

    @limited_threads()
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        reference = check_torch_classifier(self.received("reference"), "cobum's SCRUB (its teacher)")
        teacher = frozen_copy(reference.network_).to(next(model.network_.parameters()).device)
        return self.tune_student(model, forget, retain, self.trainable, self.epoch_over,
                                 lambda student, f, r: self.objective(teacher, student, f, r))


register_method(
    MethodEntry(
        name="scrub_cobum",
        kind="unlearner",
        factory=ScrubCobum,
        task="unlearn",
        version="1",
        description="cobum's single-phase SCRUB: KL to the retrained teacher on D_r minus KL on D_f (teacher = the "
                    "run's reference)",
        papers=("cobum",),
        needs_model=("network", "image_network"),
    )
)
