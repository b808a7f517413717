"""Pieces shared by the counterfactual-fairness methods (FLAP, OB, SOB, EO, FL; ob.md §3).

- :class:`AveragedModel` — the AML predictor ("f1"): logistic regression on ``[one-hot(s), x]``
  whose prediction averages the group input out, ``Σ_g P̂(g)·f(g, x)`` (P̂ = training group
  frequencies). On raw features it is Wang et al.'s EO predictor.
- ``Unaware`` (FTU, from :mod:`.ftu`) is the "f2" predictor: logistic regression on ``[1, x]``.
- :class:`PreprocessedPredictor` — a preprocessor followed by one of them, ``f(s, a) = h(s, T(a, s))``,
  with the two halves reachable so that an evaluation can switch the predictor's ``s`` alone.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ...core.errors import FairbenchError
from .._checks import check_choice
from ..base import GroupAwarePredictor, Preprocessor
from .ftu import Unaware
from .ml import FullModel


class AveragedModel(GroupAwarePredictor):
    """``f(x) = Σ_g P̂(g)·σ(θ_g + βᵀx)``, fitted as the full model, then averaged over training groups."""

    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray) -> "AveragedModel":
        self.model_ = FullModel().fit(X, y, s)
        self.groups_ = self.model_.groups_
        self.weights_ = np.array([np.mean(s == g) for g in self.groups_])
        return self

    def predict_proba(self, X: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
        del s  # averaged out by construction, so EO fairness is exactly 0
        n = len(X)
        p = sum(w * self.model_.predict_proba(X, np.full(n, g))[:, 1] for g, w in zip(self.groups_, self.weights_))
        return np.column_stack([1 - p, p])


PREDICTORS = {"f1": AveragedModel, "f2": Unaware}
# The MLP regressor's settings (the continuous tables); None: the MLP's own default.
MLP_SETTINGS = ("epochs", "batch_size", "lr", "random_state")


def check_predictor(name: str, **mlp: Any) -> None:
    check_choice("predictor", name, [*PREDICTORS, "mlp"])
    given = sorted(k for k, v in mlp.items() if v is not None and k != "random_state")
    if name != "mlp" and given:
        raise FairbenchError(f"predictor '{name}' takes no settings, got {', '.join(given)}")


def make_predictor(name: str, **mlp: Any) -> Any:
    """``f1`` (averaged full model, FLAP-1 / AML), ``f2`` (unaware model, FLAP-2) or ``mlp``, the unaware
    MLP regressor of the continuous tables with the settings in ``mlp`` (None: the MLP's default)."""
    check_predictor(name, **mlp)
    if name == "mlp":
        from ..learners.mlp import MLPRegressor  # torch only where it is needed

        return MLPRegressor(use_sensitive=False, **{k: v for k, v in mlp.items() if v is not None})
    return PREDICTORS[name]()


class PreprocessedPredictor(GroupAwarePredictor):
    """``f(s, a) = h(s, T(a, s))``: fit ``T`` on the training features, then ``h`` on ``T(a, s)``.

    Subclasses (OB, SOB, FLAP) build the halves from their parameters in ``build_preprocessor()`` and
    ``build_predictor()``. ``preprocess`` and ``predict_processed`` expose them: the paper's EO fairness for
    pre-processing methods holds the processed features fixed and switches only ``h``'s group
    input (ob.md §6.7, mode "predictor-only").
    """

    def build_preprocessor(self) -> Preprocessor:
        raise NotImplementedError

    def build_predictor(self) -> Any:
        raise NotImplementedError

    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray) -> "PreprocessedPredictor":
        features = self.fit_preprocessor(X, y, s)  # builds predictor_
        self.predictor_.fit(features, y, s)
        return self

    def fit_preprocessor(self, X: np.ndarray, y: np.ndarray, s: np.ndarray) -> np.ndarray:
        """The first half of ``fit``: fit ``T`` and return the features ``h`` is to be fitted on; ``predictor_``
        is built unfitted (so that it can be fitted with other models' predictors, or set from a stored fit)."""
        self._check_params()
        self.preprocessor_, self.predictor_ = self.build_preprocessor(), self.build_predictor()
        return self.preprocessor_.fit_transform(X, y, s)

    def preprocess(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        return self.preprocessor_.transform(X, s)

    def predict_processed(self, X_processed: np.ndarray, s: np.ndarray) -> np.ndarray:
        return self.predictor_.predict_proba(X_processed, s)

    def predict_proba(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        return self.predict_processed(self.preprocess(X, s), s)

    def predict(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Regression output of a regressor ``h`` (the continuous tables)."""
        return self.predictor_.predict(self.preprocess(X, s), s)


def fits_together(model: Any) -> bool:
    """Whether ``model`` can join :func:`fit_members`: the MLP regressor, or a preprocessing followed by it."""
    from ..learners.mlp import MLPRegressor

    return isinstance(model, MLPRegressor) or (isinstance(model, PreprocessedPredictor)
                                               and getattr(model, "predictor", None) == "mlp")


def fit_members(models: Sequence[Any], data: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[float]:
    """Fit each model on its ``(X, y, s)`` as its own ``fit`` would, training their MLP regressors together
    (:func:`fairbench.methods.learners.mlp.fit_together`: the same weights to float tolerance). Returns the
    seconds each model's fit took: its own preprocessing plus an equal share of the joint training."""
    from ..learners.mlp import fit_together

    if not all(fits_together(model) for model in models):
        raise FairbenchError("only the MLP regressor and preprocessings followed by it can be fitted together")
    regressors, inputs, seconds = [], [], []
    for model, (X, y, s) in zip(models, data):
        start = time.perf_counter()
        if isinstance(model, PreprocessedPredictor):
            inputs.append((model.fit_preprocessor(X, y, s), y, s))
            regressors.append(model.predictor_)
        else:
            inputs.append((X, y, s))
            regressors.append(model)
        seconds.append(time.perf_counter() - start)
    start = time.perf_counter()
    fit_together(regressors, inputs)
    share = (time.perf_counter() - start) / len(models)
    return [own + share for own in seconds]


def fitted_regressor(model: Any) -> Any:
    """The MLP regressor inside a model that :func:`fits_together` (the model itself, or its ``predictor_``)."""
    return model.predictor_ if isinstance(model, PreprocessedPredictor) else model

