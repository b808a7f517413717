"""DR-JL (Wang, Zhang, Sun & Qi, ICML 2019): doubly robust joint learning.

Alternates, on every batch, (i) the imputation update of DR-JL — pseudo-labels r_hat = sigmoid(m(u, i))
whose errors e_hat = l(f, r_hat) fit the observed errors, min mean_O (e - e_hat)^2 / p_hat — and
(ii) the predictor update on E_DR with that imputation (ultd.md §5.4). Propensities: the learned,
clipped observation model shared with IPS and DR.
"""

from __future__ import annotations

import torch

from ._debias import PropensityWeighted, dr_prediction_loss, imputation_step
from ._mf import Recommender, adam, step
from .base import MethodEntry
from .registry import register_method


class DRJL(PropensityWeighted, Recommender):
    def __init__(self, clip: float = 0.05, prop: dict | None = None, space_factor: int = 1,
                 imp_lr: float | None = None, imp_weight_decay: float | None = None, **base):
        super().__init__(**base)
        self.space_factor = int(space_factor)
        self.imp_lr = imp_lr
        self.imp_weight_decay = imp_weight_decay
        self._init_propensity(clip, prop)

    def _build(self, data):
        super()._build(data)
        self._fit_propensity(data)
        self.imputation_model = self.new_mf(data)
        self.imp_opt = adam(self.imputation_model.parameters(), self.imp_lr or self.lr,
                            self.weight_decay if self.imp_weight_decay is None else self.imp_weight_decay)

    def _pseudo_label(self, users, items):
        with torch.no_grad():
            return torch.sigmoid(self.imputation_model(users, items))

    def _train_epoch(self, data):
        total = 0.0
        for idx in data.obs_batches(self.batch_size):
            users, items, labels = data.biased.take(idx)
            inv_prop = self.inv_prop_[idx]
            imputation_step(self.imputation_model, self.imp_opt, self.model(users, items), users, items, labels,
                            inv_prop, self.loss)
            loss = dr_prediction_loss(self.model, self._pseudo_label, data, users, items, labels, inv_prop,
                                      self.space_factor * len(idx), self.loss)
            total += step(self.opt, loss)
        return {"loss": total}


register_method(
    MethodEntry(
        name="dr-jl",
        kind="recommender",
        factory=DRJL,
        task="recommend",
        version="1",
        description="doubly robust joint learning: MF pseudo-label imputation fitted to IPS-weighted errors, alternating",
        papers=("ultd",),
        defaults={"emb_dim": 8, "lr": 0.01, "batch_size": 128, "weight_decay": 1e-3},
    )
)
