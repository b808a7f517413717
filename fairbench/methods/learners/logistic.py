"""Logistic regression fitted by damped Newton steps to a tight optimum.

Unpenalised by default, which is what the FLAP/OB reference numbers use (statsmodels ``Logit``):
scikit-learn's default L2 penalty would shift every coefficient. ``predict_proba`` follows
scikit-learn's convention: an ``(n, 2)`` array of class probabilities.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import expit, log_expit

from ..base import Learner, MethodEntry
from ..registry import register_method


class LogisticRegression(Learner):
    """Binary logistic regression, ``P(y=1|x) = σ(xᵀθ)``; ``fit_intercept`` appends a column of ones.

    The group-aware predictors build their own design matrices and pass ``fit_intercept=False``.
    Minimises ``mean_i BCE(y_i, σ(x_iᵀθ)) + (l2/2)‖θ‖²`` by Newton's method with step halving;
    stops when ``‖∇‖_∞ < tol``. ``grad_norm_`` records the gradient norm reached.
    """

    def __init__(self, l2: float = 0.0, tol: float = 1e-10, max_iter: int = 100, fit_intercept: bool = True):
        self._store(locals())

    def _loss(self, X: np.ndarray, y: np.ndarray, theta: np.ndarray) -> float:
        z = X @ theta
        return float(-np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)) + 0.5 * self.l2 * theta @ theta)

    def _design(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return np.column_stack([X, np.ones(len(X))]) if self.fit_intercept else X

    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray | None = None) -> "LogisticRegression":
        del s  # a plain learner: the sensitive attribute is not an input
        X = self._design(X)
        y = np.asarray(y, dtype=np.float64)
        n, d = X.shape
        theta = np.zeros(d)
        loss = self._loss(X, y, theta)
        for iteration in range(1, self.max_iter + 1):
            p = expit(X @ theta)
            grad = X.T @ (p - y) / n + self.l2 * theta
            if np.max(np.abs(grad)) < self.tol:
                break
            hessian = (X * (p * (1 - p))[:, None]).T @ X / n + self.l2 * np.eye(d)
            step = np.linalg.lstsq(hessian, grad, rcond=None)[0]
            t = 1.0
            while t > 1e-10:
                candidate = theta - t * step
                candidate_loss = self._loss(X, y, candidate)
                if candidate_loss <= loss:
                    break
                t /= 2
            theta, loss = candidate, candidate_loss
        else:
            warnings.warn(f"logistic regression did not converge in {self.max_iter} Newton steps", RuntimeWarning)
        self.coef_ = theta
        self.n_iter_ = iteration
        self.grad_norm_ = float(np.max(np.abs(X.T @ (expit(X @ theta) - y) / n + self.l2 * theta)))
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self._design(X) @ self.coef_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])


register_method(
    MethodEntry(
        name="logreg",
        kind="learner",
        factory=LogisticRegression,
        task="train_base",
        version="1",
        description="logistic regression (Newton, tight optimum); unpenalised unless l2 is set",
    )
)
