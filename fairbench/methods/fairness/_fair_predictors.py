"""Pieces shared by the counterfactual-fairness methods (FLAP, OB, SOB, EO, FL; ob.md §3).

- :class:`AveragedModel` — the AML predictor ("f1"): logistic regression on ``[one-hot(s), x]``
  whose prediction averages the group input out, ``Σ_g P̂(g)·f(g, x)`` (P̂ = training group
  frequencies). On raw features it is Wang et al.'s EO predictor.
- ``Unaware`` (FTU, from :mod:`.ftu`) is the "f2" predictor: logistic regression on ``[1, x]``.
- :class:`PreprocessedPredictor` — a preprocessor followed by one of them, ``f(s, a) = h(s, T(a, s))``,
  with the two halves reachable so that an evaluation can switch the predictor's ``s`` alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.errors import FairbenchError
from .ftu import Unaware
from .ml import FullModel


class AveragedModel:
    """``f(x) = Σ_g P̂(g)·σ(θ_g + βᵀx)``, fitted as the full model, then averaged over training groups."""

    def fit(self, X: np.ndarray, s: np.ndarray, y: np.ndarray) -> "AveragedModel":
        self.model_ = FullModel().fit(X, s, y)
        self.groups_ = self.model_.groups_
        self.weights_ = np.array([np.mean(s == g) for g in self.groups_])
        return self

    def predict_proba(self, X: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
        del s  # averaged out by construction, so EO fairness is exactly 0
        n = len(X)
        p = sum(w * self.model_.predict_proba(X, np.full(n, g))[:, 1] for g, w in zip(self.groups_, self.weights_))
        return np.column_stack([1 - p, p])


PREDICTORS = {"f1": AveragedModel, "f2": Unaware}


def make_predictor(name: str, **learner: Any) -> Any:
    """``f1`` (averaged full model, FLAP-1 / AML), ``f2`` (unaware model, FLAP-2) or ``mlp``.

    ``mlp`` is the unaware MLP regressor of the continuous tables; ``learner`` holds its settings
    (epochs, batch size, ...). The logistic predictor classes take none.
    """
    if name == "mlp":
        from ..learners.mlp import MLPRegressor  # torch only where it is needed

        return MLPRegressor(use_sensitive=False, **learner)
    if name not in PREDICTORS:
        raise FairbenchError(f"unknown predictor class '{name}'; known: {', '.join(PREDICTORS)}, mlp")
    if learner:
        raise FairbenchError(f"predictor '{name}' takes no settings, got {', '.join(sorted(learner))}")
    return PREDICTORS[name]()


class PreprocessedPredictor:
    """``f(s, a) = h(s, T(a, s))``: fit ``T`` on the training features, then ``h`` on ``T(a, s)``.

    ``preprocess`` and ``predict_processed`` expose the halves: the paper's EO fairness for
    pre-processing methods holds the processed features fixed and switches only ``h``'s group
    input (ob.md §6.7, mode "predictor-only").
    """

    def __init__(self, preprocessor: Any, predictor: Any):
        self.preprocessor = preprocessor
        self.predictor = predictor

    def fit(self, X: np.ndarray, s: np.ndarray, y: np.ndarray) -> "PreprocessedPredictor":
        if hasattr(self.preprocessor, "fit_transform"):
            processed = self.preprocessor.fit_transform(X, s)
        else:
            processed = self.preprocessor.fit(X, s).transform(X, s)
        self.predictor.fit(processed, s, y)
        return self

    def preprocess(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        return self.preprocessor.transform(X, s)

    def predict_processed(self, X_processed: np.ndarray, s: np.ndarray) -> np.ndarray:
        return self.predictor.predict_proba(X_processed, s)

    def predict_proba(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        return self.predict_processed(self.preprocess(X, s), s)

    def predict(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Regression output of a regressor ``h`` (the continuous tables)."""
        return self.predictor.predict(self.preprocess(X, s), s)
