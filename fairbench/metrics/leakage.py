"""Certified-removal leakage ε of a Newton-type unlearner with objective perturbation (Guo et al. 2020;
Oesterling et al. 2024, Sec. 4.3 and App. A.1-A.2).

If the gradient residual of the unlearned parameters on the remaining data satisfies
‖∇L_b(θ⁻; D′)‖₂ ≤ ε′ and the training noise is b ~ N(0, σ²I), the removal is (ε, δ)-certified with
ε = (ε′/σ)·√(2 ln(1.5/δ)) (Guo et al., Lemma 2 read for ε). ε′ comes from a bound:

- data-dependent (Guo Cor. 1; fairunlearn App. A.2): γ_L·‖X_{D′}‖₂·‖θ* − θ⁻‖₂·‖X_{D′}(θ* − θ⁻)‖₂ with
  γ_L = 1/4 the Lipschitz constant of the logistic ℓ″ (the quadratic fairness term adds no remainder);
- worst case, two forms (the printed Eq. 9 is lost, fairunlearn.md §1.5 / §6.5):
  ``repo``: (0.25/(λ²(n−1)))·(2 + ‖θ*‖·(8(n−1)/n_b²)²), as the public code computes it (m-free);
  ``reconstructed``: (γ_L·m²/(λ²(n−m)))·(2C + ‖θ*‖·8(n−1)/n_b²)², which is Guo's 4γ_L·C²·m²/(λ²(n−m))
  batch bound when the fairness term vanishes (C = 1 for the logistic loss).

The paper reports the smaller ε of the data-dependent and worst-case bounds. Every function returns
nan with a RuntimeWarning where ε is undefined (σ = 0: no noise, no certificate).
"""

from __future__ import annotations

import math

import numpy as np

from .classification import _undefined
from .registry import Needs, register_metric

LOGISTIC_LIPSCHITZ = 0.25
WORST_CASE_FORMS = ("reconstructed", "repo")


@register_metric("certified_removal_epsilon", kind="privacy", higher_is_better=False, needs=Needs(("residual_bound", "sigma", "delta")))
def certified_removal_epsilon(residual_bound: float, sigma: float, delta: float) -> float:
    """ε = (ε′/σ)·√(2 ln(1.5/δ)) for a gradient-residual bound ε′, noise σ and δ ∈ (0, 1.5).

    Lower is more private. σ ≤ 0 or δ outside (0, 1.5) -> nan with a RuntimeWarning.
    """
    if not sigma > 0:
        return _undefined("ε is undefined without objective-perturbation noise (σ = 0)")
    if not 0 < delta < 1.5:
        return _undefined(f"ε needs 0 < δ < 1.5, got {delta}")
    return float(residual_bound / sigma * math.sqrt(2.0 * math.log(1.5 / delta)))


def data_dependent_residual_bound(X_remaining: np.ndarray, theta_star: np.ndarray, theta_unlearned: np.ndarray,
                                  lipschitz: float = LOGISTIC_LIPSCHITZ) -> float:
    """γ_L·‖X_{D′}‖₂·‖θ* − θ⁻‖₂·‖X_{D′}(θ* − θ⁻)‖₂ (``X_remaining``: design rows of D′, intercept included)."""
    step = np.asarray(theta_star, dtype=np.float64) - np.asarray(theta_unlearned, dtype=np.float64)
    X = np.asarray(X_remaining, dtype=np.float64)
    return float(lipschitz * np.linalg.norm(X, 2) * np.linalg.norm(step) * np.linalg.norm(X @ step))


def worst_case_residual_bound(n: int, m: int, l2: float, theta_norm: float, n_privileged: int,
                              form: str = "reconstructed", lipschitz: float = LOGISTIC_LIPSCHITZ,
                              loss_bound: float = 1.0) -> float:
    """The worst-case ε′ in the named form (module docstring); n training rows, m removed,
    ``n_privileged`` = n_b, the number of s = 1 training rows."""
    fairness = 8.0 * (n - 1) / n_privileged**2
    if form == "repo":
        return float(0.25 / (l2**2 * (n - 1)) * (2.0 + theta_norm * fairness**2))
    if form == "reconstructed":
        return float(lipschitz * m**2 / (l2**2 * (n - m)) * (2.0 * loss_bound + theta_norm * fairness) ** 2)
    raise ValueError(f"unknown worst-case form '{form}'; known: {', '.join(WORST_CASE_FORMS)}")
