"""F-Unlearning of cfdebias Table 2: Oesterling et al.'s Fair Unlearning (:mod:`.fair_unlearning`) applied to
a torch classifier, as cfdebias.md §6.19 recommends (a documented deviation: the official method is a
logistic regression on the inputs).

``features="penultimate"`` (default): the hidden layers are frozen and the final linear layer is
replaced by the convex model Fair Unlearning is defined for — a fair logistic regression
(:class:`~.fair_logistic.FairLogisticRegression`: logistic loss + (λ/2)‖θ‖² + γ·Berk pair penalty) on
the penultimate features, fitted to its optimum on the training rows in ``prepare`` (deletion-independent).
``unlearn`` is then the batch Newton step with the fairness-penalty correction
(:func:`~._newton_step.removal_step`), and the network's head is set so that its logit margin equals
the unlearned θᵀh + b (softmax of ±margin/2). γ and the penalty default to the DNN's own
``fairness_weight`` / ``fairness_penalty``, so the head optimises the objective the network was trained
with, restricted to its last layer (plus λ = 1e-4, Oesterling's ``reg``). ``features="input"``: the
official method — the same fit and step on the raw inputs, returning the logistic model itself.
Binary classifiers only (the Berk penalty is defined for binary labels and groups).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..core.errors import FairbenchError
from ..datasets.base import Split
from ._newton_step import HESSIAN_L2, precompute, removal_step
from ._torch_classifier import check_torch_classifier, few_threads, frozen_copy, predict_logits
from .base import MethodEntry
from .fair_logistic import FairLogisticRegression
from .registry import register_method

FEATURES = ("penultimate", "input")


class HeadFairUnlearner:
    def __init__(self, features: str = "penultimate", l2: float = 1e-4, gamma: float | None = None,
                 penalty: str | None = None, hessian_l2: str = "remaining"):
        if features not in FEATURES:
            raise FairbenchError(f"features must be one of {', '.join(FEATURES)}, got '{features}'")
        if hessian_l2 not in HESSIAN_L2:
            raise FairbenchError(f"hessian_l2 must be one of {', '.join(HESSIAN_L2)}, got '{hessian_l2}'")
        self.features, self.l2, self.gamma, self.penalty, self.hessian_l2 = features, l2, gamma, penalty, hessian_l2
        self.head_: FairLogisticRegression | None = None

    def represent(self, model: Any, X: np.ndarray) -> np.ndarray:
        if self.features == "input":
            return np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        with few_threads():
            return predict_logits(model.network_.body, model.tensor(X)).numpy().astype(np.float64)

    def prepare(self, model: Any, train: Split) -> None:
        check_torch_classifier(model, "F-Unlearning")
        if model.network_.head.out_features != 2:
            raise FairbenchError("F-Unlearning (Fair Unlearning's logistic head) needs a binary classifier")
        gamma = self.gamma if self.gamma is not None else getattr(model, "fairness_weight", 0.0)
        penalty = self.penalty or getattr(model, "fairness_penalty", "eo")
        self.head_ = FairLogisticRegression(l2=self.l2, gamma=gamma, penalty=penalty)
        rows = Split(self.represent(model, train.X), train.y, train.s)
        self.head_.fit(rows.X, rows.y, s=rows.s)
        self.cache_ = precompute(self.head_, rows)

    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        if self.head_ is None:
            self.prepare(model, Split(np.concatenate([forget.X, retain.X]), np.concatenate([forget.y, retain.y]),
                                      None if forget.s is None else np.concatenate([forget.s, retain.s])))
            self.cache_ = None  # the rows are not in training order; let the step use the remaining rows
        head = removal_step(self.head_, Split(self.represent(model, forget.X), forget.y, forget.s),
                            Split(self.represent(model, retain.X), retain.y, retain.s), self.cache_,
                            fairness=True, hessian_l2=self.hessian_l2)
        if self.features == "input":
            return head
        network = frozen_copy(model.network_)
        theta = torch.as_tensor(head.coef_, dtype=torch.float32)
        weight, bias = (theta[:-1], theta[-1]) if head.fit_intercept else (theta, torch.zeros(()))
        with torch.no_grad():
            network.head.weight.copy_(torch.stack([-weight / 2, weight / 2]))
            network.head.bias.copy_(torch.stack([-bias / 2, bias / 2]))
        return model.with_network(network)


register_method(
    MethodEntry(
        name="f_unlearning",
        kind="unlearner",
        factory=HeadFairUnlearner,
        task="unlearn",
        version="1",
        description="F-Unlearning of cfdebias: Fair Unlearning's Newton step on a fair logistic head over the "
                    "network's frozen penultimate features (or, features=input, on the raw inputs)",
        papers=("cfdebias",),
    )
)
