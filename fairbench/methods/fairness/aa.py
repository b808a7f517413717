"""AA: Wang, Sridhar & Blei's (2019) affirmative-action-fair predictor.

``f_AA(s, a) = Σ_g P̂(g)·f_EO(a − Ê[A | S=s] + Ê[A | S=g])``: the EO predictor averaged over the
orthogonalisation counterfactuals of the row in every training group (training group means and
frequencies), so orthogonalisation counterfactuals of one row all get the same prediction.
"""

from __future__ import annotations

import numpy as np

from ...core.groupmaps import GroupMeans
from ._fair_predictors import AveragedModel
from ..base import GroupAwarePredictor, MethodEntry
from ..registry import register_method


class AffirmativeAction(GroupAwarePredictor):
    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray) -> "AffirmativeAction":
        self.eo_ = AveragedModel().fit(X, y, s)
        self.means_ = GroupMeans().fit(X, s)
        return self

    def predict_proba(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        groups, weights = self.means_.groups_, self.means_.weights_
        p = sum(w * self.eo_.predict_proba(self.means_.shift(X, s, g))[:, 1] for g, w in zip(groups, weights))
        return np.column_stack([1 - p, p])


register_method(
    MethodEntry(
        name="aa",
        kind="predictor",
        factory=AffirmativeAction,
        task="cf_discrete",
        version="1",
        description="AA predictor (Wang et al. 2019): EO predictor averaged over orthogonalisation counterfactuals",
        papers=("ob",),
    )
)
