"""Boundary Shrink (Chen et al., CVPR 2023, "Boundary Unlearning"; arXiv 2303.11570), the "BS" of cfdebias.

1. One FGSM step on the frozen original model per forget row: x' = x + ε·sign(∇ₓ CE(f(x), y)),
   ε = 0.1 on the (standardised / normalised) input, no random start.
2. Its nearest-but-incorrect label y_nbi from f(x').
3. Fine-tune a copy of the model on (x, y_nbi) with cross-entropy: SGD, lr 1e-5, momentum 0.9,
   10 epochs over D_f (cfdebias.md §3.3).

``label="nbi"`` (default) takes the argmax of f(x') over the classes other than y, the definition's
"incorrect"; ``"argmax"`` takes the plain argmax as the maintained reimplementation
(``OPTML-Group/Unlearn-Saliency``, ``boundary_sh.py``) does, which returns y itself wherever one FGSM
step fails to cross the boundary — common on tabular inputs, where fine-tuning on those rows then
*reinforces* them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from ...datasets.base import Split
from .._checks import check_choice, check_positive
from ..learners._torch_classifier import (
    batches, check_torch_classifier, chunked_forward, descend, frozen_copy, optimiser, row_chunks, smallest_batch,
    split_tensors, student_copy,
)
from .._random import torch_generator
from .._threads import limited_threads
from ..base import MethodEntry, Unlearner
from ..registry import register_method

LABELS = ("nbi", "argmax")


def fgsm(network: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float) -> torch.Tensor:
    """x + ε·sign(∇ₓ CE), per chunk of rows (one chunk for a table): the sign of a row's gradient does
    not depend on which other rows share the mean."""
    out = []
    for rows in row_chunks(x):
        xb = x[rows].clone().requires_grad_(True)
        loss = F.cross_entropy(network(xb), y[rows])
        (grad,) = torch.autograd.grad(loss, xb)
        out.append((xb + epsilon * grad.sign()).detach())
    return torch.cat(out) if out else x.clone()


def nearest_incorrect(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    masked = logits.clone()
    masked[torch.arange(len(y), device=y.device), y] = -torch.inf
    return masked.argmax(dim=1)


class BoundaryShrink(Unlearner):
    def __init__(self, epsilon: float = 0.1, label: str = "nbi", epochs: int = 10, lr: float = 1e-5,
                 momentum: float = 0.9, batch_size: int = 256, optimizer: str = "sgd", random_state: int | None = None):
        self._store(locals())

    def _check_params(self) -> None:
        check_choice("label", self.label, LABELS)
        check_positive(epsilon=self.epsilon, epochs=self.epochs, lr=self.lr, batch_size=self.batch_size)

    def shrink_labels(self, teacher: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        adversarial = fgsm(teacher, x, y, float(self.epsilon))
        logits = chunked_forward(teacher, adversarial)
        return nearest_incorrect(logits, y) if self.label == "nbi" else logits.argmax(dim=1)

    @limited_threads()
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        check_torch_classifier(model, "Boundary Shrink")
        gen = torch_generator(self.random_state)
        teacher = frozen_copy(model.network_)
        student = student_copy(model.network_)
        x, y = split_tensors(model, forget)
        target = self.shrink_labels(teacher, x, y)
        opt = optimiser(student.parameters(), self.optimizer, float(self.lr), momentum=float(self.momentum))
        smallest = smallest_batch(student)
        for _ in range(int(self.epochs)):
            for rows in batches(len(x), int(self.batch_size), gen, min_size=smallest):
                loss = F.cross_entropy(student(x[rows]), target[rows])
                descend(opt, loss)
        return model.with_network(student.eval())


register_method(
    MethodEntry(
        name="bs",
        kind="unlearner",
        factory=BoundaryShrink,
        task="unlearn",
        version="1",
        description="Boundary Shrink (Chen et al. 2023): fine-tune on the FGSM nearest-but-incorrect labels of D_f",
        papers=("cfdebias",),
        needs_model=("network", "image_network"),
    )
)
