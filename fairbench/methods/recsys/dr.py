"""DR (doubly robust; Wang et al. 2019 estimator, cited by ULTD as Saito 2020), fixed imputation.

E_DR = (1/|D|) sum_D [e_hat + o (e - e_hat) / p_hat] with the learned, clipped propensity of IPS and
a constant pseudo-label r_hat (e_hat_{u,i} = l(f(u, i), r_hat)), as in the DR script of the DR-JL
code family (ultd.md §5.3). That script takes r_hat from the unbiased ratings; DR is listed among
the methods without unbiased data, so the default here is the mean biased label (``imputation``
sets it explicitly). Each step uses a batch of O and ``space_factor`` x as many uniform pairs of D.
"""

from __future__ import annotations

import torch

from ...core.errors import FairbenchError
from ._debias import PropensityWeighted, dr_prediction_loss
from ._mf import Recommender, step
from ..base import MethodEntry
from ..registry import register_method


class DR(PropensityWeighted, Recommender):
    def __init__(self, imputation: float | None = None, clip: float = 0.05, prop: dict | None = None,
                 space_factor: int = 1, **base):
        super().__init__(**base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        if self.imputation is not None and not 0.0 <= self.imputation <= 1.0:
            raise FairbenchError(f"imputation must be a probability, got {self.imputation}")
        self._check_propensity()

    def _build(self, data):
        super()._build(data)
        self._fit_propensity(data)
        value = float(data.biased.labels.mean()) if self.imputation is None else float(self.imputation)
        self.pseudo_label_ = value
        self.diagnostics_["pseudo_label"] = value

    def _train_epoch(self, data):
        total = 0.0
        constant = lambda users, items: torch.full((len(users),), self.pseudo_label_)  # noqa: E731
        for idx in data.obs_batches(self.batch_size):
            users, items, labels = data.biased.take(idx)
            loss = dr_prediction_loss(self.model, constant, data, users, items, labels, self.inv_prop_[idx],
                                      int(self.space_factor) * len(idx), self.loss)
            total += step(self.opt, loss)
        return {"loss": total}


register_method(
    MethodEntry(
        name="dr",
        kind="recommender",
        factory=DR,
        task="recommend",
        version="2",
        description="doubly robust MF: learned clipped propensities, constant imputed label",
        papers=("ultd",),
    )
)
