"""FTU: fairness through unawareness, logistic regression on [1, a] (ignores s)."""

from __future__ import annotations

import numpy as np

from ..learners._design import with_intercept
from ..base import GroupAwarePredictor, MethodEntry
from ..learners.logistic import LogisticRegression
from ..registry import register_method


class Unaware(GroupAwarePredictor):
    """Logistic regression that never sees the sensitive attribute."""

    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray | None = None) -> "Unaware":
        self.model_ = LogisticRegression(fit_intercept=False).fit(with_intercept(X), y)
        return self

    def predict_proba(self, X: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
        return self.model_.predict_proba(with_intercept(X))


register_method(
    MethodEntry(
        name="ftu",
        kind="predictor",
        factory=Unaware,
        task="cf_discrete",
        version="1",
        description="FTU baseline: unpenalised logistic regression on [1, a]",
        papers=("ob",),
    )
)
