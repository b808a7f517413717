"""CausE (Bonner & Vasile, RecSys 2018): causal embeddings from biased and unbiased data.

Shared user factors p_u; item factors q^c for the biased ("control") ratings O and q^t for the
unbiased ("treatment") ratings A; loss = mean_O l(p.q^c, r) + mean_A l(p.q^t, r) +
tie_weight * mean_i ||q^c_i - sg(q^t_i)||_1 (the L1 tie with a stop-gradient on the treatment side,
as in the AutoDebias re-implementation; ultd.md §5.6). Predictions use the control item factors.
"""

from __future__ import annotations

import torch
from torch import nn

from ._mf import Recommender, adam, pair_loss, step
from ..base import MethodEntry
from ..registry import register_method


class CausE(Recommender):
    uses_unbiased = True

    def __init__(self, tie_weight: float = 0.001, batch_size: int = 64, loss: str = "mse", **base):
        super().__init__(batch_size=batch_size, loss=loss, **base)
        self.tie_weight = tie_weight

    def _build(self, data):
        self.model = self.new_mf(data)
        self.Q_treatment = nn.Parameter(torch.randn(data.n_items, int(self.emb_dim)) * float(self.init_std))
        self.opt = adam([*self.model.parameters(), self.Q_treatment], self.lr, self.weight_decay)

    def _train_epoch(self, data):
        total = 0.0
        for idx in data.obs_batches(self.batch_size):
            users, items, labels = data.biased.take(idx)
            control = pair_loss(self.model(users, items), labels, self.loss).mean()
            ua, ia, ra = data.unbiased.take(data.unbiased_batch(len(idx)))
            treatment_weights = {**dict(self.model.named_parameters()), "Q": self.Q_treatment}
            treatment = pair_loss(self.model(ua, ia, treatment_weights), ra, self.loss).mean()
            tie = (self.model.Q - self.Q_treatment.detach()).abs().sum(-1).mean()
            total += step(self.opt, control + treatment + float(self.tie_weight) * tie)
        return {"loss": total}


register_method(
    MethodEntry(
        name="cause",
        kind="recommender",
        factory=CausE,
        task="recommend",
        version="2",
        description="CausE: shared users, separate control/treatment item factors tied by an L1 penalty",
        papers=("ultd",),
    )
)
