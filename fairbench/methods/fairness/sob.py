"""SOB — Sparse Orthogonal to Bias (Chen & Zhu, arXiv 2403.17852, Eq. 13 / Algorithm 1; ob.md §1.4).

A penalised matrix decomposition ``X̃ = Σ_j d_j s_j u_jᵀ`` (Witten, Tibshirani & Hastie 2009) with
Aliverti et al.'s orthogonality constraint: every score vector ``s_j`` is orthogonal to the
sensitive design ``[1, enc(s)]`` and to the earlier scores, ``‖s_j‖₂ = ‖u_j‖₂ = 1`` and
``‖u_j‖₁ ≤ t``. Component by component, alternate until both vectors move less than ``tol``:

- ``s_j ∝ (I − P_{A, s_1..s_{j−1}}) X u_j`` (least-squares residual, deflated by earlier scores);
- ``u_j ∝ soft(Xᵀ s_j, θ)`` with ``θ = 0`` when that already satisfies the L1 bound, else the
  ``θ`` (bisection) that makes ``‖u_j‖₁ = t``;

then ``d_j = s_jᵀ X u_j``. ``t`` ranges over ``[1, √p]`` (``t ≥ √p`` is no constraint; ``t < 1``
is infeasible for a unit vector). The paper does not give ``t`` or ``tol``; defaults are ob.md
§6.10's ``t = √p / 2`` and ``tol = 1e-4``. Initial ``u_j`` are drawn from ``random_state``.

``transform`` as in :mod:`.ob`: ``transductive`` (default, ``paper``) refits on every transformed
matrix; ``inductive`` keeps the training loadings and regression coefficients and maps a new row to
``Σ_j d_j / ‖r_j‖ · (x u_j − [1, enc(s)] β_j) u_jᵀ`` — the deflation by earlier training scores has
no counterpart for new rows, so this is an approximation.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ...core.errors import FairbenchError
from ._fair_predictors import MLP_SETTINGS, PreprocessedPredictor, check_predictor, make_predictor
from ._orthogonal import Projector, check_options, check_rank, sensitive_design
from .._random import seed_from
from ..base import MethodEntry, Preprocessor
from ..registry import register_method


def l1_constrained_direction(v: np.ndarray, t: float) -> np.ndarray:
    """Unit vector ``soft(v, θ)/‖soft(v, θ)‖₂`` with the smallest ``θ ≥ 0`` giving ``‖·‖₁ ≤ t``.

    ``‖soft(v, θ)‖₁ / ‖soft(v, θ)‖₂`` decreases in θ; between consecutive sorted ``|v|`` values the
    m surviving entries make ``(S₁ − mθ)² = t²(S₂ − 2θS₁ + mθ²)`` a quadratic, solved exactly
    (``S₁``, ``S₂``: sums of the m largest ``|v|`` and of their squares).
    """
    norm = np.linalg.norm(v)
    if norm == 0 or np.abs(v).sum() <= t * norm:
        return v if norm == 0 else v / norm
    a = np.sort(np.abs(v))[::-1]
    s1, s2 = np.cumsum(a), np.cumsum(a**2)
    m = np.arange(1, len(a) + 1)
    lower = np.append(a[1:], 0.0)
    # the ratio at θ = lower edge of segment m, where m entries survive
    ratio = (s1 - m * lower) / np.sqrt(np.maximum(s2 - 2 * lower * s1 + m * lower**2, 1e-300))
    seg = int(np.argmax(ratio > t))  # first segment whose lower edge overshoots the bound
    S1, S2, M = s1[seg], s2[seg], m[seg]
    if abs(M - t**2) < 1e-12:  # the quadratic degenerates: the ratio is t on the whole segment
        theta = float(lower[seg])
    else:
        disc = max(S1**2 - M * (S1**2 - t**2 * S2) / (M - t**2), 0.0)
        roots = np.array([(S1 - np.sqrt(disc)) / M, (S1 + np.sqrt(disc)) / M])
        inside = roots[(roots >= lower[seg] - 1e-12) & (roots <= a[seg] + 1e-12)]
        theta = float(inside.min()) if inside.size else float(np.clip(roots[0], lower[seg], a[seg]))
    w = np.sign(v) * np.maximum(np.abs(v) - theta, 0.0)
    return w / np.linalg.norm(w)


def sparse_orthogonal_decomposition(
    X: np.ndarray, A: np.ndarray, k: int, t: float, tol: float, max_iter: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Algorithm 1: scores ``S`` (n×k), loadings ``U`` (p×k), weights ``d``, coefficients ``B`` of each
    ``X u_j`` on A, residual norms, and the iterations each component needed.

    The alternation runs in p dimensions: with ``R = I − P`` the projector off A and the earlier
    scores, ``s ∝ R X u`` gives ``Xᵀ s = G u / ‖R X u‖`` and ``‖R X u‖² = uᵀ G u`` for the p×p Gram
    matrix ``G = Xᵀ R X``, which each accepted score deflates by ``(Xᵀ s)(Xᵀ s)ᵀ``. The step on s,
    ``‖s' − s‖² = 2 − 2 s'ᵀs``, is exact too, so no n-vector is formed inside the loop.
    """
    n, p = X.shape
    projector = Projector(A)
    gram = X.T @ projector.residual(X)
    S, U = np.zeros((n, k)), np.zeros((p, k))
    d, norms, B, iterations = np.zeros(k), np.zeros(k), np.zeros((A.shape[1], k)), []
    for j in range(k):
        u = rng.uniform(size=p)
        u /= np.linalg.norm(u)
        gu = gram @ u
        r_norm = np.sqrt(max(u @ gu, 0.0))
        for it in range(1, max_iter + 1):
            if r_norm <= 1e-12 * np.sqrt(np.trace(gram) + 1e-300):
                raise FairbenchError(f"SOB component {j + 1}: X u lies in the span of A and earlier scores; lower k")
            u_new = l1_constrained_direction(gu / r_norm, t)
            gu_new = gram @ u_new
            r_new = np.sqrt(max(u_new @ gu_new, 0.0))
            s_step = np.sqrt(max(2 - 2 * (u_new @ gu) / (r_new * r_norm + 1e-300), 0.0)) if it > 1 else np.inf
            u_step = np.linalg.norm(u_new - u)
            u, gu, r_norm = u_new, gu_new, r_new
            if s_step < tol and u_step < tol:
                break
        else:
            warnings.warn(f"SOB component {j + 1} did not converge in {max_iter} iterations", RuntimeWarning)
        iterations.append(it)
        s = projector.residual(X @ u)
        s /= np.linalg.norm(s)
        xs = X.T @ s
        S[:, j], U[:, j], d[j] = s, u, xs @ u
        B[:, j] = np.linalg.lstsq(A, X @ u, rcond=None)[0]
        norms[j] = np.linalg.norm(X @ u - A @ B[:, j])
        projector.with_column(s)
        gram = gram - np.outer(xs, xs)
    return {"scores": S, "loadings": U, "d": d, "coef": B, "norms": norms, "iterations": iterations}


def check_sob_options(t: float | None, tol: float, max_iter: int, transform: str, encoding: str) -> None:
    check_options(transform, encoding)
    if t is not None and t < 1:
        raise FairbenchError(f"SOB's L1 bound t must be >= 1 (a unit vector has ||u||_1 >= 1), got {t}")
    if tol <= 0 or max_iter < 1:
        raise FairbenchError(f"SOB needs tol > 0 and max_iter >= 1, got tol={tol}, max_iter={max_iter}")


class SparseOrthogonalToBias(Preprocessor):
    """SOB pre-processing, ``fit(X, y, s)`` / ``transform(X, s)``; ``mode`` is the ``transform`` option above."""

    def __init__(self, k: int | None = None, t: float | None = None, tol: float = 1e-4, max_iter: int = 2000,
                 mode: str = "transductive", encoding: str = "numeric", random_state: int = 0):
        self._store(locals())

    def _check_params(self) -> None:
        check_sob_options(self.t, self.tol, self.max_iter, self.mode, self.encoding)

    def _decompose(self, X: np.ndarray, s: np.ndarray) -> dict[str, Any]:
        X = np.asarray(X, dtype=np.float64)
        k = check_rank(self.k, X)
        # the default √p/2 is below the feasible minimum 1 when p < 4
        t = max(np.sqrt(X.shape[1]) / 2, 1.0) if self.t is None else float(self.t)
        A = sensitive_design(s, self.encoding, self.groups_)
        rng = np.random.default_rng(seed_from(self.random_state))
        return {"t": t, **sparse_orthogonal_decomposition(X, A, k, t, self.tol, self.max_iter, rng)}

    def fit(self, X: np.ndarray, y: np.ndarray | None, s: np.ndarray) -> "SparseOrthogonalToBias":
        self._check_params()
        self.groups_ = np.unique(s) if np.asarray(s).ndim == 1 else None
        self.fitted_ = self._decompose(X, s)
        return self

    def transform(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        if self.mode == "transductive":
            f = self._decompose(X, s)
            return (f["scores"] * f["d"]) @ f["loadings"].T
        return self._inductive(X, s)

    def fit_transform(self, X: np.ndarray, y: np.ndarray | None, s: np.ndarray) -> np.ndarray:
        """``fit(X, y, s).transform(X, s)``, reusing the decomposition in the transductive mode."""
        f = self.fit(X, y, s).fitted_
        return (f["scores"] * f["d"]) @ f["loadings"].T if self.mode == "transductive" else self._inductive(X, s)

    def _inductive(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        f = self.fitted_
        A = sensitive_design(s, self.encoding, self.groups_)
        scores = (np.asarray(X, dtype=np.float64) @ f["loadings"] - A @ f["coef"]) / f["norms"]
        return (scores * f["d"]) @ f["loadings"].T


class SOB(PreprocessedPredictor):
    """SOB followed by ``predictor``: ``f1`` / ``f2`` (discrete tables) or ``mlp`` (continuous; ``epochs``,
    ``batch_size``, ``lr`` are the MLP's, None its default). ``random_state`` seeds SOB's initial
    loadings and the MLP."""

    def __init__(self, k: int | None = None, t: float | None = None, tol: float = 1e-4, max_iter: int = 2000,
                 predictor: str = "mlp", transform: str = "transductive", encoding: str = "numeric",
                 random_state: int = 0, epochs: int | None = None, batch_size: int | None = None,
                 lr: float | None = None):
        self._store(locals())

    def _check_params(self) -> None:
        check_sob_options(self.t, self.tol, self.max_iter, self.transform, self.encoding)
        check_predictor(self.predictor, **self._mlp_settings())

    def _mlp_settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in MLP_SETTINGS}

    def build_preprocessor(self) -> SparseOrthogonalToBias:
        return SparseOrthogonalToBias(self.k, self.t, self.tol, self.max_iter, self.transform, self.encoding,
                                      self.random_state)

    def build_predictor(self) -> Any:
        return make_predictor(self.predictor, **self._mlp_settings())


register_method(
    MethodEntry(
        name="sob",
        kind="predictor",
        factory=SOB,
        task="cf_continuous",
        version="1",
        description="SOB pre-processing (sparse loadings, ||u||_1 <= t, scores orthogonal to A) + f1 / f2 or the MLP",
        papers=("ob",),
    )
)
