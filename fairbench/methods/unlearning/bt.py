"""Bad Teacher (Chundawat et al., AAAI 2023; arXiv 2205.08096): competent/incompetent teacher distillation.

The student starts from the original model. It is trained on D_f plus a random share (30 %) of D_r,
each row flagged forget/retain, towards the softened output of the *incompetent* teacher (a randomly
initialised copy of the architecture) on forget rows and of the *competent* teacher (the original
model) on retain rows: KL(target ‖ softmax(student/T)). Defaults are the reference code's
(``vikram2000b/bad-teaching-unlearning``, cfdebias.md §3.2): T = 1, Adam, lr 1e-4, 1 epoch, batch 256.
The reference's element-mean KL is a batch-mean here (a constant factor K, immaterial under Adam).
"""

from __future__ import annotations

from typing import Any

import torch

from ...datasets.base import Split
from .._checks import check_positive
from ..learners._torch_classifier import (
    batches, check_torch_classifier, descend, frozen_copy, kl_to_target, on_device, optimiser, reinitialised,
    smallest_batch, student_copy,
)
from .._random import seed_of, torch_generator
from .._threads import limited_threads
from ..base import MethodEntry, Unlearner
from ..registry import register_method


class BadTeacher(Unlearner):
    def __init__(self, retain_share: float = 0.3, temperature: float = 1.0, epochs: int = 1, lr: float = 1e-4,
                 batch_size: int = 256, optimizer: str = "adam", random_state: int | None = None):
        self._store(locals())

    def _check_params(self) -> None:
        check_positive(retain_share=self.retain_share, temperature=self.temperature, epochs=self.epochs, lr=self.lr,
                       batch_size=self.batch_size)

    @limited_threads()
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        check_torch_classifier(model, "Bad Teacher")
        gen = torch_generator(self.random_state)
        competent = frozen_copy(model.network_)
        incompetent = frozen_copy(reinitialised(model.network_, seed_of(gen)))
        student = student_copy(model.network_)
        n_keep = int(round(min(float(self.retain_share), 1.0) * len(retain)))
        keep = torch.randperm(len(retain), generator=gen)[:n_keep]
        x = torch.cat([model.tensor(forget.X), model.tensor(retain.X[keep.numpy()])])  # only the kept rows converted
        is_forget = on_device(torch.cat([torch.ones(len(forget), dtype=torch.bool),
                                         torch.zeros(n_keep, dtype=torch.bool)]), x)
        opt = optimiser(student.parameters(), self.optimizer, float(self.lr))
        T, smallest = float(self.temperature), smallest_batch(student)
        for _ in range(int(self.epochs)):
            for rows in batches(len(x), int(self.batch_size), gen, min_size=smallest):
                xb = x[rows]
                with torch.no_grad():
                    good = torch.softmax(competent(xb) / T, dim=1)
                    bad = torch.softmax(incompetent(xb) / T, dim=1)
                    target = torch.where(is_forget[rows, None], bad, good)
                loss = kl_to_target(target, student(xb), T)
                descend(opt, loss)
        return model.with_network(student.eval())


register_method(
    MethodEntry(
        name="bt",
        kind="unlearner",
        factory=BadTeacher,
        task="unlearn",
        version="1",
        description="Bad Teacher (Chundawat et al. 2023): distil the original model on retain rows and a random "
                    "network on forget rows",
        papers=("cfdebias",),
        needs_model=("network", "image_network"),
    )
)
