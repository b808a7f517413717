"""What cobum's fine-tuning unlearners share (Gradient Ascent, LoRA, cobum's SCRUB, FMD; cobum.md §1.3).

- **Settings** (:class:`FineTuning`): the paper's common setup, Adam at lr 1e-4, "5 iterations" read as 5
  epochs (cobum.md §6.11), batch 64 (§3's recommendation); each method adds its own parameters.
- **Epochs over two sets** (:func:`paired_steps`): an objective on D_r and D_f takes one batch of each per
  step. An epoch is one reshuffled pass over the set ``epoch_over`` names; each of its batches is paired
  with the next batch of the other set, which is reshuffled whenever it runs out. The number of steps taken
  is reported (``report_["steps"]``), as §6.11 asks.
- **Batches are converted when drawn** (:func:`batch`): only a batch's images become float tensors, so a
  224-pixel training set is never held as floats.
- **What trains** (:func:`trainable_parameters`): ``all`` parameters, or ``fc``, the linear head alone (the
  body frozen in eval mode, its batch-norm statistics kept); ``None`` follows the original model's learner
  (its ``trainable``, e.g. cobum's CIFAR-10 linear probe), ``all`` for a learner without one.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import torch
from torch import nn

from ...core.errors import FairbenchError
from ...datasets.base import Split
from .._checks import check_choice, check_positive
from .._random import torch_generator
from ..base import Unlearner
from ..learners._torch_classifier import (
    OPTIMISERS, batches, check_torch_classifier, cycling, descend, optimiser, smallest_batch, split_tensors,
    student_copy,
)

EPOCH_OVER = ("forget", "retain")
TRAINABLE = ("all", "fc")

Batch = tuple[torch.Tensor, torch.Tensor]  # (network inputs, labels) of one minibatch


class FineTuning(Unlearner):
    """The settings every cobum fine-tuning unlearner takes (subclasses pass them on as ``**base``)."""

    def __init__(self, epochs: int = 5, lr: float = 1e-4, batch_size: int = 64, optimizer: str = "adam",
                 random_state: int | None = None):
        self._store(locals())

    def _check_params(self) -> None:
        check_positive(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size)
        check_choice("optimizer", self.optimizer, OPTIMISERS)

    def generator(self) -> torch.Generator:
        return torch_generator(self.random_state)

    def optimiser(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        return optimiser(params, self.optimizer, float(self.lr))

    def descend_pairs(self, model: Any, opt: torch.optim.Optimizer, forget: Split, retain: Split, over: str,
                      gen: torch.Generator, min_size: int, loss: Callable[[Batch, Batch], torch.Tensor]) -> int:
        """One optimiser step on ``loss(forget batch, retain batch)`` per pair of :func:`paired_steps`;
        returns the number of steps."""
        steps = 0
        for rows_f, rows_r in paired_steps(len(forget), len(retain), int(self.batch_size), int(self.epochs), over,
                                           gen, min_size):
            descend(opt, loss(batch(model, forget, rows_f), batch(model, retain, rows_r)))
            steps += 1
        return steps

    def student(self, model: Any, trainable: str | None) -> tuple[nn.Module, torch.optim.Optimizer, str]:
        """A trainable copy of the original network in training mode, the optimiser of what learns in it, and
        what that is (``trainable`` resolved against the original model's)."""
        check_torch_classifier(model, type(self).__name__)
        trainable = resolve_trainable(model, trainable)
        student = student_copy(model.network_)
        opt = self.optimiser(trainable_parameters(student, trainable))
        return train_mode(student, trainable), opt, trainable

    def tune_student(self, model: Any, forget: Split, retain: Split, trainable: str | None, over: str,
                     objective: Callable[[nn.Module, Batch, Batch], torch.Tensor]) -> Any:
        """The original model with its network trained on ``objective(student, forget batch, retain batch)``
        over :func:`paired_steps` (the number of steps in ``report_``)."""
        student, opt, _ = self.student(model, trainable)
        steps = self.descend_pairs(model, opt, forget, retain, over, self.generator(), smallest_batch(student),
                                   lambda f, r: objective(student, f, r))
        self.report_ = {"steps": float(steps)}
        return model.with_network(student.eval())


def paired_steps(n_forget: int, n_retain: int, batch_size: int, epochs: int, over: str, gen: torch.Generator,
                 min_size: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(forget rows, retain rows) per step: ``epochs`` reshuffled passes over the set ``over`` names, each
    batch paired with the next batch of the other set (reshuffled whenever it runs out)."""
    check_choice("epoch_over", over, EPOCH_OVER)
    if min(n_forget, n_retain) < min_size:
        raise FairbenchError(f"this unlearner needs at least {min_size} forget and {min_size} retain rows, "
                             f"got {n_forget} and {n_retain}")
    first, second = (n_forget, n_retain) if over == "forget" else (n_retain, n_forget)
    partner = cycling(second, batch_size, gen, min_size=min_size)
    for _ in range(epochs):
        for rows in batches(first, batch_size, gen, min_size=min_size):
            other = next(partner)
            yield (rows, other) if over == "forget" else (other, rows)


def batch(model: Any, split: Split, rows: torch.Tensor) -> Batch:
    """The network inputs and labels of ``rows`` of ``split`` (only these rows converted)."""
    return split_tensors(model, split.subset(rows.numpy()))


def resolve_trainable(model: Any, trainable: str | None) -> str:
    """``trainable``, or for None the original model's learner's (``all`` when it has no such setting)."""
    value = getattr(model, "trainable", "all") if trainable is None else trainable
    check_choice("trainable", value, TRAINABLE)
    return value


def trainable_parameters(network: nn.Module, trainable: str) -> list[nn.Parameter]:
    """The parameters that learn; with ``fc`` every body parameter is frozen (``requires_grad`` off)."""
    if trainable == "all":
        return list(network.parameters())
    for p in network.body.parameters():
        p.requires_grad_(False)
    return list(network.head.parameters())


def train_mode(network: nn.Module, trainable: str) -> nn.Module:
    """Training mode for what learns: a frozen body stays in eval mode (batch-norm statistics as loaded)."""
    network.train()
    if trainable == "fc":
        network.body.eval()
    return network
