"""MF (Koren, Bell & Volinsky 2009): naive matrix factorisation on the biased ratings only.

min_theta (1/|O|) sum_O l(f_theta(u, i), r_{u,i}) + L2, with f = sigmoid(p_u . q_i) and the log
loss of the DR-JL code family (ultd.md §5.1; E_N of the paper's problem setup).
"""

from __future__ import annotations

from ._mf import Recommender, supervised_epoch
from ..base import MethodEntry
from ..registry import register_method


class NaiveMF(Recommender):
    def __init__(self, batch_size: int = 64, **base):
        super().__init__(batch_size=batch_size, **base)

    def _train_epoch(self, data):
        return {"loss": supervised_epoch(self.model, self.opt, data.biased, self.batch_size, self.loss)}


register_method(
    MethodEntry(
        name="mf",
        kind="recommender",
        factory=NaiveMF,
        task="recommend",
        version="2",
        description="naive MF on the biased ratings (log loss), early-stopped on validation AUC",
        papers=("ultd",),
    )
)
