"""DR-JL (Wang, Zhang, Sun & Qi, ICML 2019): doubly robust joint learning.

Alternates, on every batch, (i) the imputation update of DR-JL — pseudo-labels r_hat = sigmoid(m(u, i))
whose errors e_hat = l(f, r_hat) fit the observed errors, min mean_O (e - e_hat)^2 / p_hat — and
(ii) the predictor update on E_DR with that imputation (ultd.md §5.4). Propensities: the learned,
clipped observation model shared with IPS and DR.
"""

from __future__ import annotations

from ._debias import JointImputation, PropensityWeighted
from ._mf import Recommender, step
from ..base import MethodEntry
from ..registry import register_method


class DRJL(JointImputation, PropensityWeighted, Recommender):
    def __init__(self, clip: float = 0.05, prop: dict | None = None, space_factor: int = 4,
                 imp_lr: float | None = None, imp_weight_decay: float | None = None, batch_size: int = 64, **base):
        super().__init__(batch_size=batch_size, **base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        self._check_propensity()

    def _build(self, data):
        super()._build(data)
        self._fit_propensity(data)
        self._build_imputation(data)

    def _train_epoch(self, data):
        total = 0.0
        for idx in data.obs_batches(self.batch_size):
            total += step(self.opt, self._joint_dr_loss(data, idx, self.inv_prop_[idx]))
        return {"loss": total}


register_method(
    MethodEntry(
        name="dr-jl",
        kind="recommender",
        factory=DRJL,
        task="recommend",
        version="2",
        description="doubly robust joint learning: MF pseudo-label imputation fitted to IPS-weighted errors, alternating",
        papers=("ultd",),
    )
)
