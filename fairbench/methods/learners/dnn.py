"""The tabular "3-layer DNN" of cfdebias (Table 2, Fig. 5): three linear layers with ReLU.

Widths are not stated in the paper (cfdebias.md §2.6, §6.17); the recommended ``d → 64 → 32 → K`` is
the default, any ``hidden`` tuple is accepted (CARLA's ANN is ``hidden=(18, 9, 3)``). Cross-entropy,
Adam, reshuffled minibatches from ``random_state`` (initialisation and order), so a fit is a pure
function of its data and settings, and :func:`~._fitting.clone` + refit (Retrain) reuses them.

``fairness_penalty="eo"`` adds Oesterling et al.'s (Berk et al.) equalized-odds pair penalty, which
cfdebias.md §6.19 recommends for Table 2's "unbiased" Ori and Retrain, applied to the logit margin
f(x) = logit₁ − logit₀ in place of θᵀx::

    γ · ( (1/(n_a n_b)) Σ_{i∈G_a, j∈G_b, y_i = y_j} (f(x_i) − f(x_j)) )²

estimated on each minibatch from per-(group, label) sums (``Σ_y c_{b,y} S_{a,y} − c_{a,y} S_{b,y}``, as in
:mod:`.fair_logistic`; no pair is formed). ``"dp"`` drops the label condition, ``"eopp"`` keeps y = 1.
A minibatch without both groups contributes no penalty.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...core.errors import FairbenchError
from ._torch_classifier import BodyHead, TorchClassifier, batches, descend, labels, optimiser
from .._checks import check_choice, check_nonnegative, check_positive
from .._random import seed_from, torch_seeded
from .._threads import limited_threads
from ..base import Learner, MethodEntry
from ..registry import register_method

PENALTIES = ("none", "eo", "dp", "eopp")


def relu_body(n_in: int, hidden: Sequence[int]) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, int(width)), nn.ReLU()]
        n_in = int(width)
    return nn.Sequential(*layers), n_in


def pair_penalty(margin: torch.Tensor, y: torch.Tensor, s: torch.Tensor, kind: str) -> torch.Tensor:
    """The squared mean cross-group pair difference of ``margin`` (module docstring), from group sums."""
    a, b = s == 0, s == 1
    n_a, n_b = a.sum(), b.sum()
    if n_a == 0 or n_b == 0:
        return margin.new_zeros(())
    if kind == "dp":
        total = n_b * margin[a].sum() - n_a * margin[b].sum()
    else:
        total = margin.new_zeros(())
        for label in ((1,) if kind == "eopp" else (0, 1)):
            in_a, in_b = a & (y == label), b & (y == label)
            total = total + in_b.sum() * margin[in_a].sum() - in_a.sum() * margin[in_b].sum()
    return (total / (n_a * n_b)) ** 2


class DNNClassifier(TorchClassifier, Learner):
    """``fit(X, y, s=None)`` / ``predict_proba(X)``; ``s`` is needed only with a fairness penalty."""

    def __init__(self, hidden: Sequence[int] = (64, 32), epochs: int = 20, batch_size: int = 256, lr: float = 1e-3,
                 weight_decay: float = 0.0, fairness_penalty: str = "none", fairness_weight: float = 0.0,
                 random_state: int = 0):
        self._store(locals())

    def _check_params(self) -> None:
        check_choice("fairness_penalty", self.fairness_penalty, PENALTIES)
        if not self.hidden or any(int(w) < 1 for w in self.hidden):
            raise FairbenchError(f"hidden must list positive layer widths, got {self.hidden!r}")
        check_positive(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr)
        check_nonnegative(weight_decay=self.weight_decay, fairness_weight=self.fairness_weight)

    @property
    def fair(self) -> bool:
        return self.fairness_penalty != "none" and float(self.fairness_weight) > 0

    def build(self, n_in: int, n_classes: int, seed: int) -> BodyHead:
        with torch_seeded(seed):
            body, width = relu_body(n_in, tuple(int(w) for w in self.hidden))
            return BodyHead(body, nn.Linear(width, n_classes))

    def module_from_state(self, attribute: str, state: dict[str, torch.Tensor]) -> BodyHead:
        """The untrained architecture of a stored ``network_`` (:mod:`fairbench.methods.state` loads the
        weights): the input width is the first layer's, the classes are ``n_classes_``."""
        if attribute != "network_" or "body.0.weight" not in state:
            raise FairbenchError(f"a stored DNN has no module {attribute!r} with a first layer")
        return self.build(int(state["body.0.weight"].shape[1]), int(self.n_classes_), seed=0)

    @limited_threads()
    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray | None = None) -> "DNNClassifier":
        self._check_params()
        x, target = self.tensor(X), labels(y)
        if x.ndim != 2 or len(x) != len(target) or len(x) == 0:
            raise FairbenchError("the DNN needs a non-empty 2-D X with one label per row")
        if target.min() < 0:
            raise FairbenchError("labels must be class codes 0..K-1")
        n_classes = max(int(target.max()) + 1, 2)
        group = None
        if self.fair:
            if s is None or np.asarray(s).ndim != 1 or not np.all(np.isin(s, (0, 1))):
                raise FairbenchError("a fairness-penalised DNN needs a binary sensitive attribute s")
            if n_classes != 2:
                raise FairbenchError("the pair fairness penalty is defined for binary labels")
            group = torch.as_tensor(np.asarray(s), dtype=torch.long)
        seed = seed_from(self.random_state)  # initialisation and minibatch order
        gen = torch.Generator().manual_seed(seed)
        self.network_ = net = self.build(x.shape[1], n_classes, seed)
        opt = optimiser(net.parameters(), "adam", float(self.lr), weight_decay=float(self.weight_decay))
        net.train()
        for _ in range(int(self.epochs)):
            for rows in batches(len(x), int(self.batch_size), gen):
                logits = net(x[rows])
                loss = F.cross_entropy(logits, target[rows])
                if group is not None:
                    margin = logits[:, 1] - logits[:, 0]
                    penalty = pair_penalty(margin, target[rows], group[rows], self.fairness_penalty)
                    loss = loss + float(self.fairness_weight) * penalty
                descend(opt, loss)
        net.eval()
        self.n_classes_ = n_classes
        return self


register_method(
    MethodEntry(
        name="dnn",
        kind="learner",
        factory=DNNClassifier,
        task="train_base",
        version="1",
        description="3-layer ReLU DNN classifier (d-64-32-K, Adam, CE); optional Oesterling/Berk pair fairness "
                    "penalty on the logit margin (cfdebias Ori/Retrain)",
        papers=("cfdebias",),
        model_family="network",
    )
)
