"""Logistic regression with the Berk et al. group-fairness penalty and objective perturbation.

The objective of Oesterling et al. (2024, Eq. 4 plus Sec. 4.2), in the 1/n-normalised form of
their code, on n rows with an appended intercept column::

    F(θ) = (1/n) Σ_i ℓ(θᵀx_i, y_i) + γ·(vᵀθ)² + (λ/2)‖θ‖² + bᵀθ/n,     b ~ N(0, σ² I)

where ℓ is the logistic loss and ``(vᵀθ)²`` is the Berk et al. group penalty (Eq. 3)::

    vᵀθ = (1/(n_a n_b)) Σ_{i∈G_a} Σ_{j∈G_b} 1[y_i = y_j]·θᵀ(x_i − x_j),   G_a = {s=0}, G_b = {s=1}

(the square of a mean over cross-group pairs, not a mean of squares). The pair sum never needs the
pairs: with S_{g,y} = Σ_{s_i=g, y_i=y} x_i and counts c_{g,y},
``Σ pairs = Σ_y (c_{b,y}·S_{a,y} − c_{a,y}·S_{b,y})`` — O(n·d) to build, O(d) to update when rows
leave (:class:`GroupLabelSums`). The penalty's gradient is ``2(vᵀθ)v`` and its Hessian ``2vvᵀ``.

App. A.5's other notions are the same construction: ``dp`` drops the label indicator (all
cross-group pairs), ``eopp`` keeps only pairs with y = 1; ``none`` is plain BCE (γ ignored).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

from ...core.errors import FairbenchError
from .._checks import check_choice
from .._random import seed_from
from ..base import Learner, MethodEntry
from ..registry import register_method

PENALTIES = ("eo", "dp", "eopp", "none")


def _binary(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or not np.all(np.isin(values, (0, 1))):
        raise FairbenchError(f"the fair logistic objective needs a 1-D 0/1 {what}")
    return values.astype(np.int64)


@dataclass(frozen=True)
class GroupLabelSums:
    """Per-(group, label) feature sums ``sums[g, y] = Σ_{s_i=g, y_i=y} x_i`` and row counts."""

    sums: np.ndarray  # (2, 2, d)
    counts: np.ndarray  # (2, 2)

    @classmethod
    def of(cls, X: np.ndarray, y: np.ndarray, s: np.ndarray) -> "GroupLabelSums":
        y = _binary(y, "label y")
        s = _binary(s, "sensitive attribute s")
        cell = 2 * s + y
        onehot = np.zeros((len(cell), 4))
        onehot[np.arange(len(cell)), cell] = 1.0
        sums = (onehot.T @ np.asarray(X, dtype=np.float64)).reshape(2, 2, -1)
        counts = np.bincount(cell, minlength=4).reshape(2, 2)
        return cls(sums, counts)

    def __sub__(self, other: "GroupLabelSums") -> "GroupLabelSums":
        return GroupLabelSums(self.sums - other.sums, self.counts - other.counts)

    def __add__(self, other: "GroupLabelSums") -> "GroupLabelSums":
        return GroupLabelSums(self.sums + other.sums, self.counts + other.counts)

    @property
    def group_sizes(self) -> tuple[int, int]:
        n_a, n_b = self.counts.sum(axis=1)
        return int(n_a), int(n_b)

    def pair_sum(self, penalty: str = "eo") -> np.ndarray:
        """N = Σ over the penalty's cross-group pairs (i ∈ G_a, j ∈ G_b) of (x_i − x_j)."""
        c_a, c_b = self.counts[0], self.counts[1]
        S_a, S_b = self.sums[0], self.sums[1]
        if penalty == "eo":
            return sum(c_b[y] * S_a[y] - c_a[y] * S_b[y] for y in (0, 1))
        if penalty == "eopp":
            return c_b[1] * S_a[1] - c_a[1] * S_b[1]
        if penalty == "dp":
            n_a, n_b = self.group_sizes
            return n_b * S_a.sum(axis=0) - n_a * S_b.sum(axis=0)
        raise FairbenchError(f"unknown fairness penalty '{penalty}'; known: {', '.join(PENALTIES[:-1])}")

    def direction(self, penalty: str = "eo") -> np.ndarray:
        """v = N / (n_a n_b), so that the penalty is (vᵀθ)²."""
        n_a, n_b = self.group_sizes
        if n_a == 0 or n_b == 0:
            raise FairbenchError("the group-fairness penalty needs rows of both groups (s = 0 and s = 1)")
        return self.pair_sum(penalty) / (n_a * n_b)


def weighted_gram(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Σ_i w_i x_i x_iᵀ for w ≥ 0, as AᵀA with A = diag(√w)X (BLAS's symmetric product: several
    times faster than (X·w)ᵀX)."""
    A = X * np.sqrt(w)[:, None]
    return A.T @ A


def fairness_penalty(theta: np.ndarray, v: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Value ``(vᵀθ)²``, gradient ``2(vᵀθ)v`` and Hessian ``2vvᵀ`` of the group penalty."""
    r = float(v @ theta)
    return r * r, 2.0 * r * v, 2.0 * np.outer(v, v)


class FairLogisticRegression(Learner):
    """Logistic regression minimising ``F`` above by damped Newton steps to a tight optimum.

    ``penalty="none"`` (or ``gamma=0``) is the BCE model of the paper's baselines. The noise ``b`` is
    drawn from ``random_state`` at fit time, so a clone with the same parameters refitted on fewer
    rows (retraining) uses the same ``b``, as the reference code does. After ``fit``: ``coef_``
    (intercept last), ``noise_``, ``n_train_``, ``n_iter_`` and ``grad_norm_`` = ‖∇(n·F)‖₂ reached.
    """

    def __init__(
        self,
        l2: float = 1e-4,
        gamma: float = 0.0,
        penalty: str = "eo",
        sigma: float = 0.0,
        random_state: int = 0,
        tol: float = 1e-12,
        max_iter: int = 100,
        fit_intercept: bool = True,
    ):
        self._store(locals())

    def _check_params(self) -> None:
        check_choice("penalty", self.penalty, PENALTIES)
        try:  # YAML 1.1 reads 1e-5 (no dot) as a string; accept any number-like value
            values = [float(self.l2), float(self.gamma), float(self.sigma)]
        except (TypeError, ValueError):
            raise FairbenchError(f"l2, gamma and sigma must be numbers, got {self.l2!r}, {self.gamma!r}, "
                                 f"{self.sigma!r}") from None
        if min(values) < 0:
            raise FairbenchError("l2, gamma and sigma must be non-negative")

    @property
    def fair(self) -> bool:
        return self.penalty != "none" and float(self.gamma) > 0

    def design(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        return np.column_stack([X, np.ones(len(X))]) if self.fit_intercept else X

    def _noise(self, d: int) -> np.ndarray:
        if float(self.sigma) == 0:
            return np.zeros(d)
        return float(self.sigma) * np.random.default_rng(seed_from(self.random_state)).standard_normal(d)

    def direction(self, Xd: np.ndarray, y: np.ndarray, s: np.ndarray | None) -> np.ndarray:
        """The penalty direction v of the rows (design matrix ``Xd``); zeros for a BCE model."""
        if not self.fair:
            return np.zeros(Xd.shape[1])
        if s is None:
            raise FairbenchError("a fairness-regularised model needs the sensitive attribute s to fit")
        return GroupLabelSums.of(Xd, y, s).direction(self.penalty)

    # The objective in unnormalised form n·F, on whatever rows are given (so n is their count).
    def _terms(self, Xd, y, v, b, theta, order: int):
        n = len(y)
        l2, gamma = float(self.l2), float(self.gamma)
        z = Xd @ theta
        value = float(-np.sum(y * log_expit(z) + (1 - y) * log_expit(-z)) + b @ theta
                      + 0.5 * n * l2 * theta @ theta)
        pen, pen_grad, pen_hess = fairness_penalty(theta, v)
        value += n * gamma * pen
        if order == 0:
            return value, None, None
        p = expit(z)
        grad = Xd.T @ (p - y) + n * l2 * theta + n * gamma * pen_grad + b
        if order == 1:
            return value, grad, None
        hess = weighted_gram(Xd, p * (1 - p)) + n * (l2 * np.eye(len(theta)) + gamma * pen_hess)
        return value, grad, hess

    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray | None = None,
            init: np.ndarray | None = None) -> "FairLogisticRegression":
        """``init``: the θ Newton starts from (default zeros), e.g. the original model's for a warm-started
        retrain after a deletion (benchmarks/perf/fairunlearn_adult.py); the optimum reached is the same."""
        self._check_params()
        Xd = self.design(X)
        y = _binary(y, "label y").astype(np.float64)
        n, d = Xd.shape
        v = self.direction(Xd, y, s)
        b = self._noise(d)
        theta = np.zeros(d) if init is None else np.array(init, dtype=np.float64).reshape(d)
        value, grad, hess = self._terms(Xd, y, v, b, theta, 2)
        iteration = 0
        for iteration in range(1, int(self.max_iter) + 1):
            if np.linalg.norm(grad) <= float(self.tol) * n:
                break
            step = np.linalg.solve(hess, grad)
            slope = float(grad @ step)
            if slope <= 1e-15 * max(abs(value), 1.0):
                # f − f* ≈ slope/2 is below the resolution of f, so a line search cannot judge a step;
                # this close, full Newton steps converge quadratically: take them while ‖∇‖ shrinks.
                candidate = theta - step
                cand = self._terms(Xd, y, v, b, candidate, 2)
                if np.linalg.norm(cand[1]) >= np.linalg.norm(grad):
                    break
                theta, (value, grad, hess) = candidate, cand
                continue
            t = 1.0
            while True:
                candidate = theta - t * step
                cand_value = self._terms(Xd, y, v, b, candidate, 0)[0]
                if cand_value <= value - 1e-4 * t * slope or t < 1e-12:
                    break
                t *= 0.5
            if t < 1e-12:
                break
            theta = candidate
            value, grad, hess = self._terms(Xd, y, v, b, theta, 2)
        else:
            warnings.warn(f"fair logistic regression stopped after {self.max_iter} Newton steps "
                          f"(gradient norm {np.linalg.norm(grad):.3g})", RuntimeWarning)
        self.coef_ = theta
        self.noise_ = b
        self.n_train_ = n
        self.n_iter_ = iteration
        self.grad_norm_ = float(np.linalg.norm(grad))
        return self

    def objective_gradient(self, X: np.ndarray, y: np.ndarray, s: np.ndarray | None,
                           theta: np.ndarray | None = None) -> np.ndarray:
        """∇ of the unnormalised objective (#rows)·F on the given rows, with this model's noise b."""
        Xd = self.design(X)
        y = np.asarray(y, dtype=np.float64)
        theta = self.coef_ if theta is None else np.asarray(theta, dtype=np.float64)
        return self._terms(Xd, y, self.direction(Xd, y, s), self.noise_, theta, 1)[1]

    def with_coef(self, theta: np.ndarray, n_train: int) -> "FairLogisticRegression":
        """A copy carrying other parameters (an unlearned model); its fit diagnostics are unknown."""
        out = copy.copy(self)
        out.coef_ = np.asarray(theta, dtype=np.float64)
        out.n_train_ = int(n_train)
        out.n_iter_ = 0
        out.grad_norm_ = float("nan")
        return out

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.design(X) @ self.coef_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """ŷ = 1[σ(θᵀx) ≥ 0.5], the paper's rule (ties go to the positive class)."""
        return (self.decision_function(X) >= 0).astype(np.int64)


register_method(
    MethodEntry(
        name="fair_logreg",
        kind="learner",
        factory=FairLogisticRegression,
        task="train_base",
        version="1",
        description="logistic regression + (λ/2)‖θ‖² + γ·Berk group-fairness penalty (O(n·d) group sums) "
                    "+ objective perturbation bᵀθ/n; Newton to a tight optimum",
        papers=("fairunlearn",),
        model_family="convex",
    )
)
