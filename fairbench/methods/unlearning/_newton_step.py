"""The batch Newton removal step shared by Newton (Guo et al. 2020) and Fair Unlearning.

For a model θ* minimising n·F on D (see :mod:`.fair_logistic`) and a removal set R (|R| = m,
D′ = D ∖ R), one Newton step on the remaining objective (n−m)·F(·; D′) + bᵀθ from θ* is
``θ⁻ = θ* + H⁻¹Δ`` with (fairunlearn.md §1.4)::

    Δ = Σ_{i∈R} x_i(σ(θ*ᵀx_i) − y_i) + mλθ* + γ[n·∇P_D(θ*) − (n−m)·∇P_{D′}(θ*)]
    H = Σ_{i∈D′} σ_i(1−σ_i) x_i x_iᵀ + c·λ·I + γ(n−m)·∇²P_{D′}

where P is the group penalty (vᵀθ)², c = n−m (the exact Hessian; ``hessian_l2="remaining"``) or n
(the reference code's; ``"full"``). By stationarity of θ*, Δ = −∇[(n−m)F(θ*; D′) + bᵀθ*]. Guo's
Newton is the same step without the γ terms.

Cost: with :func:`precompute` (one pass over D: Σ_D w_i x_i x_iᵀ and the group/label sums), a
removal touches only the m removed rows: O(m·d² + d³), independent of n. Without it, the same
quantities come from the remaining rows (O(n·d²)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ...core.errors import FairbenchError
from ...datasets.base import Split
from ..learners.fair_logistic import FairLogisticRegression, GroupLabelSums, weighted_gram

HESSIAN_L2 = ("remaining", "full")


@dataclass
class NewtonCache:
    """What a removal step needs from the whole training set, computed once at θ*."""

    curvature: np.ndarray  # Σ_{i∈D} σ_i(1−σ_i) x_i x_iᵀ at θ* (design rows, with intercept)
    sums: GroupLabelSums | None  # over D, when the model has a fairness penalty
    n: int


def check_linear_model(model, who: str) -> FairLogisticRegression:
    if not isinstance(model, FairLogisticRegression) or not hasattr(model, "coef_"):
        raise FairbenchError(f"{who} needs a fitted fair_logreg model (logistic regression base model)")
    return model


def check_hessian_l2(hessian_l2: str) -> None:
    if hessian_l2 not in HESSIAN_L2:
        raise FairbenchError(f"hessian_l2 must be one of {', '.join(HESSIAN_L2)}, got '{hessian_l2}'")


def check_sizes(n: int, forget: Split, retain: Split | None) -> None:
    if retain is not None and len(retain) + len(forget) != n:
        raise FairbenchError(
            f"forget ({len(forget)}) and retain ({len(retain)}) rows do not add up to the {n} training rows")


def _curvature(Xd: np.ndarray, theta: np.ndarray) -> np.ndarray:
    p = expit(Xd @ theta)
    return weighted_gram(Xd, p * (1 - p))


def precompute(model: FairLogisticRegression, train: Split) -> NewtonCache:
    model = check_linear_model(model, "a Newton removal step")
    if len(train) != model.n_train_:
        raise FairbenchError(f"the model was fitted on {model.n_train_} rows, the training split has {len(train)}")
    Xd = model.design(train.X)
    sums = GroupLabelSums.of(Xd, train.y, train.s) if model.fair else None
    return NewtonCache(curvature=_curvature(Xd, model.coef_), sums=sums, n=len(train))


def removal_step(
    model: FairLogisticRegression,
    forget: Split,
    retain: Split | None,
    cache: NewtonCache | None = None,
    *,
    fairness: bool,
    hessian_l2: str = "remaining",
) -> FairLogisticRegression:
    """θ⁻ = θ* + H⁻¹Δ (module docstring); ``fairness=False`` drops the γ terms (Guo's Newton)."""
    model = check_linear_model(model, "a Newton removal step")
    check_hessian_l2(hessian_l2)
    theta = model.coef_
    n = model.n_train_
    m = len(forget)
    check_sizes(n, forget, retain)
    if m == 0:
        return model.with_coef(theta, n)
    X_forget = model.design(forget.X)
    y_forget = np.asarray(forget.y, dtype=np.float64)
    use_fairness = fairness and model.fair
    if cache is not None:
        curvature = cache.curvature - _curvature(X_forget, theta)
    elif retain is not None:
        curvature = _curvature(model.design(retain.X), theta)
    else:
        raise FairbenchError("a removal step needs the remaining rows or a precomputed cache")

    delta = X_forget.T @ (expit(X_forget @ theta) - y_forget) + m * float(model.l2) * theta
    hessian = curvature + (n - m if hessian_l2 == "remaining" else n) * float(model.l2) * np.eye(len(theta))
    if use_fairness:
        removed = GroupLabelSums.of(X_forget, forget.y, forget.s)
        if cache is not None:
            full, remaining = cache.sums, cache.sums - removed
        else:
            remaining = GroupLabelSums.of(model.design(retain.X), retain.y, retain.s)
            full = remaining + removed
        v_full = full.direction(model.penalty)
        v_rem = remaining.direction(model.penalty)
        delta += float(model.gamma) * 2.0 * (n * (v_full @ theta) * v_full - (n - m) * (v_rem @ theta) * v_rem)
        hessian += float(model.gamma) * (n - m) * 2.0 * np.outer(v_rem, v_rem)
    return model.with_coef(theta + np.linalg.solve(hessian, delta), n - m)
