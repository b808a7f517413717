"""FL as implemented by the FLAP reference code (after Wang et al. 2019), not Kusner et al.'s MCMC model.

``f(s, a) = σ(θ₀ + βᵀ(a − Ê[A | S=s]))``: logistic regression on the residuals of the features on
their training group means. The OB paper's text describes FL as MCMC sampling of latent variables,
but its printed FL numbers are this model's (ob.md §3, §6.6). Its predictions equal FLAP(O)-f2's:
the two inputs differ by the constant ``Ê[A]``, which the intercept absorbs.
"""

from __future__ import annotations

import numpy as np

from ...core.groupmaps import GroupMeans
from .ftu import Unaware
from ..base import GroupAwarePredictor, MethodEntry
from ..registry import register_method


class FairLearningResidual(GroupAwarePredictor):
    """Logistic regression on ``a − Ê[A | S=s]`` (training group means)."""

    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray) -> "FairLearningResidual":
        self.means_ = GroupMeans().fit(X, s)
        self.model_ = Unaware().fit(X - self.means_.of(s), y, s)
        return self

    def predict_proba(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(X - self.means_.of(s), s)


register_method(
    MethodEntry(
        name="fl",
        kind="predictor",
        factory=FairLearningResidual,
        task="cf_discrete",
        version="1",
        description="FL as in the FLAP code: logistic regression on residuals a - E[a|s] (the paper's text says MCMC)",
        papers=("ob",),
    )
)
