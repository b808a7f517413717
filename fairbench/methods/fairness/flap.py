"""FLAP (Chen, Lu, Song, Ghosh; arXiv 2202.12440): fairness-learning-through-adjustment pre-processing.

Two maps of the non-sensitive features ``a`` of a row in group ``s``, fitted on the training split:

- ``orthogonal`` (FLAP(O)): ``a' = a − Ê[A | S=s] + Ê[A]`` (training group means, overall mean);
- ``marginal`` (FLAP(M)): ``a'_j = Σ_g P̂(g)·Q_{g,j}(F̂_{s,j}(a_j))``, each feature's within-group
  rank mapped to every group's quantile and averaged with the training group frequencies
  (right-continuous ECDF, floor-indexed order statistics, as the reference code).

followed by predictor class ``f1`` (averaged full model, FLAP-1) or ``f2`` (unaware model, FLAP-2).
"""

from __future__ import annotations

import numpy as np

from ...core.groupmaps import GroupMeans, GroupQuantileMap
from ._fair_predictors import PreprocessedPredictor, check_predictor, make_predictor
from .._checks import check_choice
from ..base import MethodEntry, Preprocessor
from ..registry import register_method


class FlapOrthogonal(Preprocessor):
    """``a − Ê[A | S=s] + Ê[A]``: every group gets the training mean (equal group means on train)."""

    def fit(self, X: np.ndarray, y: np.ndarray | None, s: np.ndarray) -> "FlapOrthogonal":
        self.means_ = GroupMeans().fit(X, s)
        return self

    def transform(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        return X - self.means_.of(s) + self.means_.weights_ @ self.means_.means_


class FlapMarginal(Preprocessor):
    """Frequency-weighted average of the marginal quantile maps of a row into every group."""

    def fit(self, X: np.ndarray, y: np.ndarray | None, s: np.ndarray) -> "FlapMarginal":
        self.map_ = GroupQuantileMap().fit(X, s)
        return self

    def transform(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        q = self.map_.quantiles(X, s)
        return sum(w * self.map_.from_quantiles(q, g) for g, w in zip(self.map_.groups_, self.map_.weights_))


MAPPINGS = {"orthogonal": FlapOrthogonal, "marginal": FlapMarginal}


class Flap(PreprocessedPredictor):
    """A FLAP mapping followed by predictor class ``f1`` or ``f2``."""

    def __init__(self, mapping: str = "orthogonal", predictor: str = "f1"):
        self._store(locals())

    def _check_params(self) -> None:
        check_choice("mapping", self.mapping, MAPPINGS)
        check_predictor(self.predictor)

    def build_preprocessor(self) -> Preprocessor:
        return MAPPINGS[self.mapping]()

    def build_predictor(self):
        return make_predictor(self.predictor)


register_method(
    MethodEntry(
        name="flap",
        kind="predictor",
        factory=Flap,
        task="cf_discrete",
        version="1",
        description="FLAP pre-processing (orthogonal or marginal mapping) + predictor f1 (averaged ML) or f2 (FTU)",
        papers=("ob",),
    )
)
