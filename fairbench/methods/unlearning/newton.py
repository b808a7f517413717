"""Newton removal (Guo et al. 2020, "Certified Data Removal"): one batch Newton step on the per-sample loss.

θ⁻ = θ* + H⁻¹Δ with Δ = Σ_{i∈R} x_i(σ(θ*ᵀx_i) − y_i) + mλθ* and H the Hessian of the remaining
objective (:mod:`._newton_step`). It only knows decomposable losses: applied to a model with a
fairness penalty it ignores the penalty, which is the paper's point (Sec. 1, App. A.4).

``hessian_l2="remaining"`` (default) is the exact Hessian, (n−m)λ; ``"full"`` uses nλ as the public
reference code does (fairunlearn.md §6.4). The reference code's other Newton bug (the intercept
counted twice in the Hessian weights, §6.6) is not reproduced.

Prepared (``prepare(model, train)``), the unlearner serves a stream of deletions exactly: its cache
follows the unlearned model and the remaining rows (:mod:`._newton_step`).
"""

from __future__ import annotations

from typing import Any

from ...datasets.base import Split
from ._newton_step import NewtonCache, check_hessian_l2, precompute, removal_step
from ..base import MethodEntry, Unlearner
from ..registry import register_method


class NewtonUnlearner(Unlearner):
    """``prepare(model, train)`` (optional, one-off) then ``unlearn(model, forget, retain) -> model``."""

    fairness = False
    cache_: NewtonCache | None = None  # set by prepare

    def __init__(self, hessian_l2: str = "remaining"):
        self.hessian_l2 = hessian_l2

    def _check_params(self) -> None:
        check_hessian_l2(self.hessian_l2)

    def prepare(self, model: Any, train: Split) -> None:
        self._check_params()
        self.cache_ = precompute(model, train)

    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        """After ``prepare``, calls form a stream: each continues from the model the previous one
        returned, on the rows that remain (:class:`._newton_step.StreamState`); another model is refused."""
        self._check_params()
        unlearned, self.cache_ = removal_step(model, forget, retain, self.cache_, fairness=self.fairness,
                                              hessian_l2=self.hessian_l2)
        return unlearned


register_method(
    MethodEntry(
        name="newton",
        kind="unlearner",
        factory=NewtonUnlearner,
        task="unlearn",
        version="1",
        description="Guo et al. (2020) batch Newton removal step on the BCE + L2 objective",
        papers=("fairunlearn",),
        needs_model=("convex",),
    )
)
