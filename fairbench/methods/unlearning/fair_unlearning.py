"""Fair Unlearning (Oesterling et al. 2024, Eqs. 7-8): a batch Newton step that also removes the
deleted rows' entangled pairwise influence on the group-fairness penalty.

Same step as Guo's Newton (:mod:`.newton`) plus the fairness terms γ[n∇P_D − (n−m)∇P_{D′}] in the
gradient and γ(n−m)∇²P_{D′} in the Hessian, where P_{D′} is re-normalised with the remaining group
sizes (:mod:`._newton_step`). The pair sums come from per-group, per-label sums: precomputed once
over D and updated by subtracting the removed rows, so a removal costs O(m·d² + d³) — the public
reference code instead materialises every cross-group pair of D′ at each call (fairunlearn.md §6.9).

``hessian_l2`` as in :mod:`.newton`: ``remaining`` (exact, default, ``paper``) or ``full`` (``repo``).
With γ = 0 the step is exactly Newton's.
"""

from __future__ import annotations

from ..base import MethodEntry
from .newton import NewtonUnlearner
from ..registry import register_method


class FairUnlearner(NewtonUnlearner):
    fairness = True


register_method(
    MethodEntry(
        name="fair_unlearning",
        kind="unlearner",
        factory=FairUnlearner,
        task="unlearn",
        version="1",
        description="Fair Unlearning (Oesterling et al. 2024): batch Newton step with the fairness-penalty correction",
        papers=("fairunlearn",),
        needs_model=("convex",),
    )
)
