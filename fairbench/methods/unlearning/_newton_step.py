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

A stream of deletions (:class:`StreamState`): each prepared step downdates the cache by its removed
rows (the curvature with the weights of the anchor θ* where it was computed, the group sums exactly)
and records the model it returned and the rows that remain, so the next call continues from the
unlearned model on the remaining data; a call with another model or rows that are no longer there
is refused. The first step's Δ uses the stationarity of θ* (the removed rows only); a later step's
model is not an optimum of its rows, so its Δ is the exact negative gradient of the remaining
objective at the current θ, one O(n·d) pass (no O(n·d²) recomputation): the residual left by one
step is corrected by the next instead of accumulating. The curvature stays at the anchor's weights
(a quasi-Newton step whose Hessian lags by the drift of θ; tests/test_sequential_unlearning.py
bounds the effect over 10 deletions on Adult).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ...core.errors import FairbenchError
from ...datasets.base import Split
from ..learners.fair_logistic import FairLogisticRegression, GroupLabelSums, weighted_gram

HESSIAN_L2 = ("remaining", "full")


@dataclass(frozen=True)
class StreamState:
    """Which model and rows a prepared unlearner's cache describes: the model it must be given next
    (θ* after ``prepare``, then the model each ``unlearn`` returned) and the rows that remain."""

    theta: np.ndarray
    n: int
    row_ids: np.ndarray | None  # sorted source row ids of the remaining rows, when the split has unique ones
    steps: int = 0  # deletions applied since prepare

    @classmethod
    def of(cls, model: FairLogisticRegression, train: Split) -> "StreamState":
        ids = None
        if train.index is not None:
            ids = np.sort(np.asarray(train.index))
            if len(ids) and np.any(ids[1:] == ids[:-1]):
                ids = None  # ids that repeat cannot tell which row a deletion means
        return cls(np.array(model.coef_, dtype=np.float64), len(train), ids)

    def check(self, model: FairLogisticRegression, forget: Split, retain: Split | None, who: str) -> None:
        """Refuse a call the state does not describe: another model, or rows that are not the remaining ones.
        The forget rows' ids are looked up (O(m log n)); the retain rows are checked by count only."""
        again = "call prepare(model, train) for another model or training set"
        if model.n_train_ != self.n or not np.array_equal(model.coef_, self.theta):
            where = "as prepared" if self.steps == 0 else f"as returned by deletion {self.steps}"
            raise FairbenchError(f"{who}: the model differs from the one its prepared state is at ({where}, "
                                 f"{self.n} rows); a stream of deletions continues from the model the previous "
                                 f"unlearn returned, or {again}")
        check_sizes(self.n, forget, retain)
        if self.row_ids is not None and forget.index is not None and len(forget):
            ids = np.asarray(forget.index)
            at = np.minimum(np.searchsorted(self.row_ids, ids), len(self.row_ids) - 1)
            if not np.array_equal(self.row_ids[at], ids) or len(np.unique(ids)) != len(ids):
                raise FairbenchError(f"{who}: some forget rows are not among the {self.n} rows that remain "
                                     f"(already deleted, or another training set); {again}")

    def advance(self, unlearned: FairLogisticRegression, forget: Split) -> "StreamState":
        ids = self.row_ids
        if ids is not None and forget.index is not None:
            ids = np.setdiff1d(ids, np.asarray(forget.index), assume_unique=True)
        return StreamState(np.array(unlearned.coef_, dtype=np.float64), self.n - len(forget), ids, self.steps + 1)


@dataclass(frozen=True)
class NewtonCache:
    """What a removal step needs from the remaining training rows D_k (D after prepare)."""

    curvature: np.ndarray  # Σ_{i∈D_k} σ_i(1−σ_i) x_i x_iᵀ with σ_i at the anchor θ* (design rows, with intercept)
    sums: GroupLabelSums | None  # over D_k, when the model has a fairness penalty
    anchor: np.ndarray  # θ*, where prepare took the curvature weights
    state: StreamState

    @property
    def n(self) -> int:
        return self.state.n


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
    state = StreamState.of(model, train)
    return NewtonCache(curvature=_curvature(Xd, model.coef_), sums=sums, anchor=state.theta, state=state)


def _remaining_gradient(model: FairLogisticRegression, retain: Split, sums: GroupLabelSums | None) -> np.ndarray:
    """∇[(n−m)·F(θ; D′) + bᵀθ] at the model's θ in one O(n·d) pass; the penalty direction from the
    downdated group sums (``None``: no penalty term)."""
    theta, Xd = model.coef_, model.design(retain.X)
    grad = Xd.T @ (expit(Xd @ theta) - np.asarray(retain.y, dtype=np.float64))
    grad += len(retain) * float(model.l2) * theta + model.noise_
    if sums is not None:
        v = sums.direction(model.penalty)
        grad += len(retain) * float(model.gamma) * 2.0 * (v @ theta) * v
    return grad


def removal_step(
    model: FairLogisticRegression,
    forget: Split,
    retain: Split | None,
    cache: NewtonCache | None = None,
    *,
    fairness: bool,
    hessian_l2: str = "remaining",
) -> tuple[FairLogisticRegression, NewtonCache | None]:
    """θ⁻ = θ* + H⁻¹Δ (module docstring); ``fairness=False`` drops the γ terms (Guo's Newton).

    Returns the unlearned model and the cache advanced past this deletion (``None`` without a cache)."""
    model = check_linear_model(model, "a Newton removal step")
    check_hessian_l2(hessian_l2)
    if cache is not None:
        cache.state.check(model, forget, retain, "the prepared Newton step")
    theta = model.coef_
    n = model.n_train_
    m = len(forget)
    check_sizes(n, forget, retain)
    if m == 0:
        return model.with_coef(theta, n), cache
    X_forget = model.design(forget.X)
    y_forget = np.asarray(forget.y, dtype=np.float64)
    use_fairness = fairness and model.fair
    if cache is not None:
        curvature = cache.curvature - _curvature(X_forget, cache.anchor)
    elif retain is not None:
        curvature = _curvature(model.design(retain.X), theta)
    else:
        raise FairbenchError("a removal step needs the remaining rows or a precomputed cache")
    remaining = None
    if model.fair and cache is not None:
        remaining = cache.sums - GroupLabelSums.of(X_forget, forget.y, forget.s)
    # After a prepared step the model is not an optimum of its rows: Δ is then the remaining objective's
    # exact negative gradient (Newton on a fair model keeps its own stationarity assumption: it ignores
    # the penalty, which is what it is compared for).
    exact_gradient = cache is not None and cache.state.steps > 0 and (use_fairness or not model.fair)
    if exact_gradient:
        if retain is None:
            raise FairbenchError("a removal step after another needs the remaining rows")
        delta = -_remaining_gradient(model, retain, remaining if use_fairness else None)
    else:
        delta = X_forget.T @ (expit(X_forget @ theta) - y_forget) + m * float(model.l2) * theta
    hessian = curvature + (n - m if hessian_l2 == "remaining" else n) * float(model.l2) * np.eye(len(theta))
    if use_fairness:
        if cache is not None:
            full = cache.sums
        else:
            remaining = GroupLabelSums.of(model.design(retain.X), retain.y, retain.s)
            full = remaining + GroupLabelSums.of(X_forget, forget.y, forget.s)
        v_full = full.direction(model.penalty)
        v_rem = remaining.direction(model.penalty)
        if not exact_gradient:
            delta += float(model.gamma) * 2.0 * (n * (v_full @ theta) * v_full - (n - m) * (v_rem @ theta) * v_rem)
        hessian += float(model.gamma) * (n - m) * 2.0 * np.outer(v_rem, v_rem)
    unlearned = model.with_coef(theta + np.linalg.solve(hessian, delta), n - m)
    if cache is None:
        return unlearned, None
    return unlearned, NewtonCache(curvature, remaining, cache.anchor, cache.state.advance(unlearned, forget))
