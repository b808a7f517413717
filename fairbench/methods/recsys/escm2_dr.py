"""ESCM2-DR (Wang et al., SIGIR 2022): DR joint learning with entire-space multi-task regularisers.

L = E_DR(f; p_hat, r_hat) + ctr_weight * BCE(p_hat, o)_D + ctcvr_weight * BCE(p_hat * f, o * r)_D,
with the propensity ("CTR") tower p_hat = sigmoid(a_u + b_i + c) trained jointly with the
predictor ("CVR") instead of beforehand, and the DR-JL imputation update (ultd.md §5.5). The
whole-space terms use uniform samples of D with their observation indicator and label looked up.
E_DR sees the propensities as constants (they are fitted by the CTR and CTCVR terms).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ._debias import JointImputation, check_clip
from ._mf import Additive, Recommender, adam, step
from ..base import MethodEntry
from ..registry import register_method


class ESCM2DR(JointImputation, Recommender):
    def __init__(self, clip: float = 0.05, ctr_weight: float = 1.0, ctcvr_weight: float = 1.0, space_factor: int = 1,
                 imp_weight_decay: float | None = None, prop_weight_decay: float = 0.0, lr: float = 0.005,
                 batch_size: int = 64, **base):
        super().__init__(lr=lr, batch_size=batch_size, **base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        check_clip(self.clip)

    def _build(self, data):
        self.model = self.new_mf(data)
        rate = min(max(data.obs_ratio, 1e-6), 1 - 1e-6)
        self.propensity_model = Additive(data.n_users, data.n_items, bias=math.log(rate / (1 - rate)))
        self.opt = adam(self.model.parameters(), self.lr, self.weight_decay)
        self.prop_opt = adam(self.propensity_model.parameters(), self.lr, float(self.prop_weight_decay))
        self._build_imputation(data)

    def _train_epoch(self, data):
        total = 0.0
        for idx in data.obs_batches(self.batch_size):
            users, items, _ = data.biased.take(idx)
            with torch.no_grad():
                inv_prop = 1.0 / torch.sigmoid(self.propensity_model(users, items)).clamp(min=self.clip)
            loss = self._joint_dr_loss(data, idx, inv_prop)
            su, si = data.space_batch(int(self.space_factor) * len(idx))
            observed, label = data.index.lookup(su, si)
            p_click = torch.sigmoid(self.propensity_model(su, si))
            ctr = F.binary_cross_entropy(p_click, observed)
            p_both = (p_click * torch.sigmoid(self.model(su, si))).clamp(1e-6, 1 - 1e-6)
            ctcvr = F.binary_cross_entropy(p_both, observed * label)
            loss = loss + float(self.ctr_weight) * ctr + float(self.ctcvr_weight) * ctcvr
            self.prop_opt.zero_grad(set_to_none=True)
            total += step(self.opt, loss)
            self.prop_opt.step()
        return {"loss": total}


register_method(
    MethodEntry(
        name="escm2-dr",
        kind="recommender",
        factory=ESCM2DR,
        task="recommend",
        version="2",
        description="ESCM2-DR: DR joint learning plus jointly trained CTR (propensity) and CTCVR losses over D",
        papers=("ultd",),
    )
)
