"""What the model-agnostic unlearners (BT, BS, PUMA, SCRUB, cfdebias, F-Unlearning's head) need of a
torch classifier, and the training pieces they share.

A *torch classifier* is any learner with a fitted ``network_``: an ``nn.Module`` whose ``body`` maps
inputs to penultimate features and whose ``head`` (an ``nn.Linear``) maps those to class logits, plus
``tensor(X)`` (numpy → float tensor the network takes, on the network's device) and ``with_network(net)``
(a copy of the learner carrying another network). :class:`TorchClassifier` provides the rest
(``predict_proba``, ``predict``) for the tabular DNN (:mod:`.dnn`) and the image classifiers
(:mod:`.resnet`) alike, so the unlearners never look at the architecture or the input's shape: a
table's rows are ``(n, d)``, images ``(n, C, H, W)``.

What an unlearner must keep in mind to stay input-agnostic: labels and masks live on the inputs'
device (:func:`split_tensors`, :func:`on_device`); a network with batch normalisation cannot train on a
one-row batch (:func:`smallest_batch`, passed as ``batches(..., min_size=)``); whole-set gradients are
taken in :func:`row_chunks` (bounded memory for images, one chunk for a table).
"""

from __future__ import annotations

import copy
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...core.errors import FairbenchError
from .._random import torch_seeded
from .._threads import limited_threads

EVAL_BATCH = 4096


class BodyHead(nn.Module):
    """``head(body(x))``; ``features(x)`` is the penultimate representation."""

    def __init__(self, body: nn.Module, head: nn.Linear):
        super().__init__()
        self.body = body
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class TorchClassifier:
    """Mixin: numpy in, class probabilities out, through ``self.network_``."""

    network_: BodyHead

    def tensor(self, X: Any) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(np.asarray(X, dtype=np.float32)))

    def with_network(self, network: BodyHead) -> "TorchClassifier":
        out = copy.copy(self)
        out.network_ = network
        return out

    @limited_threads()
    def logits(self, X: Any) -> torch.Tensor:
        return predict_logits(self.network_, self.tensor(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return torch.softmax(self.logits(X), dim=1).numpy().astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        return self.logits(X).argmax(dim=1).numpy().astype(np.int64)


def check_torch_classifier(model: Any, who: str) -> Any:
    network = getattr(model, "network_", None)
    if network is None or not hasattr(network, "body") or not isinstance(getattr(network, "head", None), nn.Linear):
        raise FairbenchError(f"{who} needs a fitted torch classifier (network_ with body and a linear head), "
                             f"got {type(model).__name__}")
    return model


def frozen_copy(network: nn.Module) -> nn.Module:
    """A deep copy in eval mode with gradients off: a teacher."""
    teacher = copy.deepcopy(network).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def student_copy(network: nn.Module) -> nn.Module:
    student = copy.deepcopy(network).train()
    for p in student.parameters():
        p.requires_grad_(True)
    return student


def predict_logits(network: nn.Module, x: torch.Tensor, batch: int = EVAL_BATCH) -> torch.Tensor:
    was_training = network.training
    network.eval()
    with torch.no_grad():
        out = torch.cat([network(x[i : i + batch]) for i in range(0, len(x), batch)]) if len(x) else network(x)
    network.train(was_training)
    return out


def batches(n: int, batch_size: int, gen: torch.Generator, shuffle: bool = True,
            min_size: int = 1) -> Iterator[torch.Tensor]:
    """Minibatches of ``range(n)``; a trailing batch smaller than ``min_size`` is dropped (the order drawn
    from ``gen`` is the same either way)."""
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        rows = order[start : start + batch_size]
        if len(rows) >= min_size:
            yield rows


def cycling(n: int, batch_size: int, gen: torch.Generator, min_size: int = 1) -> Iterator[torch.Tensor]:
    """Endless reshuffled minibatches of ``range(n)`` (a second loader zipped with a longer one)."""
    while True:
        yield from batches(n, batch_size, gen, min_size=min_size)


def has_batch_norm(network: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in network.modules())


def smallest_batch(network: nn.Module) -> int:
    """The smallest minibatch ``network`` can train on: 2 with batch normalisation (the statistics of one
    image's 1×1 feature map are undefined; ResNets at 32×32 end in one), else 1."""
    return 2 if has_batch_norm(network) else 1


ROW_CHUNK_VALUES = 1 << 24  # input values per chunk of a whole-set pass (64 MB of float32 inputs)


def row_chunks(x: torch.Tensor, values: int = ROW_CHUNK_VALUES) -> Iterator[slice]:
    """Slices of ``x``'s rows holding at most ``values`` input values each (at least one row): a whole
    table's rows in one chunk, images in chunks whose activations fit in memory."""
    per_row = max(1, x[0].numel()) if len(x) else 1
    step = max(1, values // per_row)
    for start in range(0, len(x), step):
        yield slice(start, start + step)


def chunked_forward(network: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``network(x)`` over :func:`row_chunks` of ``x``, without gradients and without touching the network's
    mode: one pass for a table, bounded activations for images (an empty ``x`` passes through once)."""
    with torch.no_grad():
        return torch.cat([network(x[rows]) for rows in row_chunks(x)]) if len(x) else network(x)


def on_device(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``t`` on ``like``'s device (the same tensor when it is there already)."""
    return t.to(like.device)


def kl_teacher_student(teacher_logits: torch.Tensor, student_logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """Batch mean of KL(softmax(t/T) ‖ softmax(s/T)) (the distillation divergence of BT, SCRUB, cfdebias)."""
    return F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                    reduction="batchmean", log_target=True)


def kl_to_target(target_probs: torch.Tensor, student_logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    return F.kl_div(F.log_softmax(student_logits / T, dim=1), target_probs, reduction="batchmean")


def descend(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One optimiser step on ``loss``."""
    opt.zero_grad()
    loss.backward()
    opt.step()


OPTIMISERS = ("adam", "sgd")


def optimiser(params, name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    if not lr > 0:
        raise FairbenchError(f"the learning rate must be > 0, got {lr}")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise FairbenchError(f"unknown optimiser '{name}'; known: {', '.join(OPTIMISERS)}")


def labels(y: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(y), dtype=torch.long)


def reinitialised(network: nn.Module, seed: int) -> nn.Module:
    """A copy of the architecture with fresh weights (every submodule's ``reset_parameters``), drawn
    from ``seed`` without touching the global RNG: Bad Teacher's incompetent teacher."""
    device = next(network.parameters()).device
    fresh = copy.deepcopy(network).cpu()  # drawn on the CPU: the same weights on every device
    with torch_seeded(seed):
        for module in fresh.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return fresh.to(device)


def split_tensors(model: Any, split: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's inputs for ``split`` and its labels, on the inputs' device."""
    x = model.tensor(split.X)
    return x, on_device(labels(split.y), x)
