"""PRU, the projective residual update (Izzo et al. 2021, "Approximate Data Deletion"), for logistic regression.

Logistic regression is handled as Izzo et al.'s Algorithm 3 does: a weighted least-squares problem
in the working response z = Xθ* + W⁻¹(y − σ(Xθ*)), W = diag(σ(1−σ)) + 1e-6 (the floor keeps W
invertible), with the ridge system A = XᵀWX + λ_h·I. Then, for the removal set R:

1. leave-R-out predictions on R, ŷ′_R = X_R (A − X_RᵀW_R X_R)⁻¹ (XᵀWz − X_RᵀW_R z_R). This equals the
   hat-matrix form (I − H_RR)⁻¹(ŷ_R − H_RR z_R), H = XA⁻¹XᵀW, that the reference code evaluates with
   a dense n×n hat matrix (≈11 GB on Adult); the d×d form needs O(m·d² + d³) after one O(n·d²) pass.
2. the residual gradient g = Σ_{i∈R} (x_iᵀθ* − ŷ′_i) x_i, projected onto span{x_i : i ∈ R} with the
   pseudo-inverse of Σ_{i∈R} x_i x_iᵀ (eigenvalues below 1e-10 dropped);
3. θ⁻ = θ* − (Σ_R x_i x_iᵀ)⁺ g.

Variants (fairunlearn.md §6.7): ``paper`` (default, the corrected algorithm) and ``repo``, the public
reference code. ``paper`` takes λ_h = (n−m)λ, the ridge of the objective a retrained model minimises,
(n−m)·F(·; D′), so the leave-R-out fit of step 1 is the IRLS step of exactly that objective; the
reference code uses λ (not scaled at all) and takes the residual of step 2 at the i-th *training* row
instead of the i-th removed row, g = Σ_i (x_{(i)}ᵀθ* − ŷ′_i) x_{R_i}.

PRU does not know the objective-perturbation noise b: with b ≠ 0 its target is off by about H⁻¹b.
Without noise and with m ≥ d removed rows in general position it equals Guo's Newton step.

Prepared (``prepare(model, train)``), calls form a stream of deletions as in Newton's
(:class:`._newton_step.StreamState`): the totals are downdated by each removed batch (with the
anchor θ*'s weights, so they stay the totals of the remaining rows) and a call with another model or
rows that were already deleted is refused. The ``repo`` variant reads the residual rows by training
position, which a previous deletion has shifted: it serves one prepared deletion only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from ...core.errors import FairbenchError
from ...datasets.base import Split
from ._newton_step import StreamState, check_linear_model, check_sizes
from .._checks import check_choice
from ..base import MethodEntry, Unlearner
from ..learners.fair_logistic import FairLogisticRegression, weighted_gram
from ..registry import register_method

VARIANTS = ("paper", "repo")
WEIGHT_FLOOR = 1e-6
EIGEN_CUTOFF = 1e-10


def working_response(Xd: np.ndarray, y: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(w, z): IRLS weights σ(1−σ) + 1e-6 and working response Xθ + (y − σ)/w."""
    eta = Xd @ theta
    p = expit(eta)
    w = p * (1 - p) + WEIGHT_FLOOR
    return w, eta + (np.asarray(y, dtype=np.float64) - p) / w


@dataclass(frozen=True)
class _Totals:
    gram: np.ndarray  # XᵀWX over the remaining rows D_k (D after prepare), W and z at the anchor θ*
    moment: np.ndarray  # XᵀWz over D_k
    rows: np.ndarray | None  # the training design rows, in training order (``repo`` variant only)
    state: StreamState | None = None  # the model and rows the totals describe (prepared totals only)
    anchor: np.ndarray | None = None  # θ*, where prepare took W and z


def leave_k_out_predictions(totals_gram: np.ndarray, totals_moment: np.ndarray, ridge: float,
                            X_removed: np.ndarray, w_removed: np.ndarray, z_removed: np.ndarray) -> np.ndarray:
    """Predictions on the removed rows of the weighted ridge fit to z on the other rows."""
    gram = totals_gram - weighted_gram(X_removed, w_removed) + ridge * np.eye(len(totals_gram))
    moment = totals_moment - X_removed.T @ (w_removed * z_removed)
    return X_removed @ np.linalg.solve(gram, moment)


def projected_solve(X_removed: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(Σ x_i x_iᵀ)⁺ g with eigenvalues at or below 1e-10 dropped."""
    eigenvalues, vectors = np.linalg.eigh(X_removed.T @ X_removed)
    inverse = np.where(eigenvalues > EIGEN_CUTOFF, 1.0 / np.where(eigenvalues > EIGEN_CUTOFF, eigenvalues, 1.0), 0.0)
    return vectors @ (inverse * (vectors.T @ g))


class ProjectiveResidualUpdate(Unlearner):
    totals_: _Totals | None = None  # set by prepare

    def __init__(self, variant: str = "paper"):
        self.variant = variant

    def _check_params(self) -> None:
        check_choice("variant", self.variant, VARIANTS)

    def _totals(self, model: FairLogisticRegression, train: Split) -> _Totals:
        Xd = model.design(train.X)
        w, z = working_response(Xd, train.y, model.coef_)
        return _Totals(weighted_gram(Xd, w), Xd.T @ (w * z), Xd if self.variant == "repo" else None)

    def prepare(self, model: Any, train: Split) -> None:
        self._check_params()
        model = check_linear_model(model, "PRU")
        totals = self._totals(model, train)
        state = StreamState.of(model, train)
        self.totals_ = _Totals(totals.gram, totals.moment, totals.rows, state, state.theta)

    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        model = check_linear_model(model, "PRU")
        theta, n, m = model.coef_, model.n_train_, len(forget)
        totals = self.totals_
        if totals is not None:
            totals.state.check(model, forget, retain, "the prepared PRU")
            if self.variant == "repo" and totals.state.steps > 0:
                raise FairbenchError("PRU variant 'repo' reads rows by training position, which a previous deletion "
                                     "shifted: it serves one prepared deletion; call prepare(model, train) again")
        check_sizes(n, forget, retain)
        if totals is None:
            if self.variant == "repo":
                raise FairbenchError("PRU variant 'repo' needs prepare(model, train): it reads rows by training position")
            part_r, part_f = self._totals(model, retain), self._totals(model, forget)
            totals = _Totals(part_r.gram + part_f.gram, part_r.moment + part_f.moment, None)
        X_forget = model.design(forget.X)
        w, z = working_response(X_forget, forget.y, theta)
        ridge = float(model.l2) * (n - m if self.variant == "paper" else 1.0)
        lko = leave_k_out_predictions(totals.gram, totals.moment, ridge, X_forget, w, z)
        residual_rows = X_forget if self.variant == "paper" else totals.rows[:m]
        g = X_forget.T @ (residual_rows @ theta - lko)
        unlearned = model.with_coef(theta - projected_solve(X_forget, g), n - m)
        if self.totals_ is not None:
            self.totals_ = self._downdated(totals, X_forget, forget, unlearned)
        return unlearned

    @staticmethod
    def _downdated(totals: _Totals, X_forget: np.ndarray, forget: Split, unlearned: Any) -> _Totals:
        """The totals of the rows that remain after ``forget``, at the anchor's weights, for the next call."""
        w, z = working_response(X_forget, forget.y, totals.anchor)
        return _Totals(totals.gram - weighted_gram(X_forget, w), totals.moment - X_forget.T @ (w * z), totals.rows,
                       totals.state.advance(unlearned, forget), totals.anchor)


register_method(
    MethodEntry(
        name="pru",
        kind="unlearner",
        factory=ProjectiveResidualUpdate,
        task="unlearn",
        version="1",
        description="Izzo et al. (2021) projective residual update for logistic regression (variant paper | repo)",
        papers=("fairunlearn",),
        needs_model=("convex",),
    )
)
