"""ML: the full (unconstrained) model f(s, a) = σ(θ_sᵀ1 + βᵀa), logistic on [one-hot(s), a]."""

from __future__ import annotations

import numpy as np

from ..learners._design import with_group_indicators
from ..base import GroupAwarePredictor, MethodEntry
from ..learners.logistic import LogisticRegression
from ..registry import register_method


class FullModel(GroupAwarePredictor):
    """Group-aware logistic regression using the sensitive attribute as an input."""

    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray) -> "FullModel":
        self.groups_ = np.unique(s)
        self.model_ = LogisticRegression(fit_intercept=False).fit(with_group_indicators(X, s, self.groups_), y)
        return self

    def predict_proba(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(with_group_indicators(X, s, self.groups_))


register_method(
    MethodEntry(
        name="ml",
        kind="predictor",
        factory=FullModel,
        task="cf_discrete",
        version="1",
        description="ML baseline: unpenalised logistic regression on [one-hot(s), a]",
        papers=("ob",),
    )
)
