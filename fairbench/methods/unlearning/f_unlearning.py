"""F-Unlearning of cfdebias Table 2: Oesterling et al.'s Fair Unlearning (:mod:`.fair_unlearning`) applied to
a torch classifier's final linear layer with the hidden layers frozen, as cfdebias.md §6.19 recommends
(a documented deviation: the official method is a logistic regression on the inputs).

With the body frozen, a binary network's head is a logistic regression on the penultimate features h:
its logit margin logit₁ − logit₀ = θᵀ[h, 1] with θ = (w₁ − w₀, b₁ − b₀). The DNN's training objective
restricted to θ is Fair Unlearning's convex objective (logistic loss + γ·Berk pair penalty on the
margin, :mod:`.dnn`), whose minimiser the trained head approximates. ``unlearn`` takes the batch Newton
step with the fairness-penalty correction (:func:`~._newton_step.removal_step`) from the network's own
θ, with λ = ``l2`` (Oesterling's ``reg``, 1e-4) and γ / penalty defaulting to the DNN's
``fairness_weight`` / ``fairness_penalty``, and writes the step back symmetrically (w₁ += Δ/2,
w₀ −= Δ/2). ``prepare`` precomputes the full-data curvature and group sums on the training rows'
features (deletion-independent), so a removal costs O(m·d² + d³).

``features="input"``: the official method instead — a fair logistic regression fitted on the raw
inputs in ``prepare`` and unlearned by the same step; the returned model is that logistic regression.
Binary classifiers only (the Berk penalty is defined for binary labels and groups).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...core.errors import FairbenchError
from ...datasets.base import Split
from ._newton_step import NewtonCache, check_hessian_l2, precompute, removal_step
from .._checks import check_choice
from .._threads import limited_threads
from ..learners._torch_classifier import check_torch_classifier, frozen_copy, predict_logits
from ..base import MethodEntry, Unlearner
from ..learners.fair_logistic import FairLogisticRegression
from ..registry import register_method

FEATURES = ("penultimate", "input")


class HeadFairUnlearner(Unlearner):
    head_: FairLogisticRegression | None = None  # set by prepare
    cache_: NewtonCache | None = None

    def __init__(self, features: str = "penultimate", l2: float = 1e-4, gamma: float | None = None,
                 penalty: str | None = None, hessian_l2: str = "remaining"):
        self._store(locals())

    def _check_params(self) -> None:
        check_choice("features", self.features, FEATURES)
        check_hessian_l2(self.hessian_l2)

    def represent(self, model: Any, X: np.ndarray) -> np.ndarray:
        if self.features == "input":
            return np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        with limited_threads():
            return predict_logits(model.network_.body, model.tensor(X)).numpy().astype(np.float64)

    def linear_model(self, model: Any, rows: Split) -> FairLogisticRegression:
        """The logistic view of the model on ``rows`` (its own head), or, for ``features="input"``, a fit."""
        check_torch_classifier(model, "F-Unlearning")
        head = model.network_.head
        if head.out_features != 2:
            raise FairbenchError("F-Unlearning (Fair Unlearning's logistic head) needs a binary classifier")
        gamma = self.gamma if self.gamma is not None else getattr(model, "fairness_weight", 0.0)
        penalty = self.penalty or getattr(model, "fairness_penalty", "eo")
        logistic = FairLogisticRegression(l2=self.l2, gamma=gamma, penalty=penalty)
        if self.features == "input":
            return logistic.fit(rows.X, rows.y, s=rows.s)
        with torch.no_grad():
            w, b = head.weight.double(), head.bias.double()
            theta = torch.cat([w[1] - w[0], (b[1] - b[0]).reshape(1)]).numpy()
        return logistic.with_coef(theta, len(rows))

    def prepare(self, model: Any, train: Split) -> None:
        self._check_params()
        rows = Split(self.represent(model, train.X), train.y, train.s)
        self.head_ = self.linear_model(model, rows)
        self.cache_ = precompute(self.head_, rows)

    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        forget_rows = Split(self.represent(model, forget.X), forget.y, forget.s)
        retain_rows = Split(self.represent(model, retain.X), retain.y, retain.s)
        head, cache = self.head_, self.cache_
        if head is None:  # no prepare: the step's curvature comes from the remaining rows
            head = self.linear_model(model, Split(np.concatenate([forget_rows.X, retain_rows.X]),
                                                  np.concatenate([forget.y, retain.y]),
                                                  None if forget.s is None else np.concatenate([forget.s, retain.s])))
        # The advanced cache is kept: a second call on the same prepared head is refused (its θ moved),
        # instead of stepping again from state that is valid only for the first deletion.
        unlearned, advanced = removal_step(head, forget_rows, retain_rows, cache, fairness=True,
                                           hessian_l2=self.hessian_l2)
        if cache is not None:
            self.cache_ = advanced
        if self.features == "input":
            return unlearned
        step = torch.as_tensor(unlearned.coef_ - head.coef_, dtype=torch.float32)
        network = frozen_copy(model.network_)
        with torch.no_grad():
            network.head.weight += torch.stack([-step[:-1], step[:-1]]) / 2
            network.head.bias += torch.stack([-step[-1], step[-1]]) / 2
        return model.with_network(network)


register_method(
    MethodEntry(
        name="f_unlearning",
        kind="unlearner",
        factory=HeadFairUnlearner,
        task="unlearn",
        version="2",
        description="F-Unlearning of cfdebias: Fair Unlearning's Newton step on the network's final linear layer "
                    "over frozen penultimate features (or, features=input, on a fair logistic regression)",
        papers=("cfdebias",),
        needs_model=("network", "image_network"),
    )
)
