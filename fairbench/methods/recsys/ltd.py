"""LTD (Wang, Zhang, Sun & Qi, WSDM 2021): learning to debias with a few unbiased ratings.

Bi-level: the debiasing parameters psi (propensity model, and in the DR form the imputation model)
minimise the loss on the unbiased ratings A of the predictor trained with E_IPS / E_DR(theta; psi):
min_psi mean_A l(f_{theta*(psi)}, r), theta*(psi) = argmin E(theta; psi), solved with a one-step
look-ahead per batch (ultd.md §5.8). No public code exists; the propensity starts from the logistic
observation model of IPS, the imputation from random pseudo-labels. ``ltd_variant``: ``ips``
(default, the setting of the benchmark's table) or ``dr``.
"""

from __future__ import annotations

import torch

from ._debias import BiLevel, PropensityWeighted, dr_prediction_loss, ips_estimate
from ._mf import Recommender, pair_loss
from .._checks import check_choice
from ..base import MethodEntry
from ..registry import register_method

VARIANTS = ("ips", "dr")


class LTD(BiLevel, PropensityWeighted, Recommender):
    uses_unbiased = True

    def __init__(self, ltd_variant: str = "ips", clip: float = 0.05, prop: dict | None = None, space_factor: int = 1,
                 meta_lr: float | None = None, lookahead_lr: float | None = None, **base):
        super().__init__(**base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        check_choice("ltd_variant", self.ltd_variant, VARIANTS)
        self._check_propensity()

    def _build(self, data):
        super()._build(data)
        self.propensity_model = self._fit_propensity(data)
        meta = list(self.propensity_model.parameters())
        if self.ltd_variant == "dr":
            self.imputation_model = self.new_mf(data)
            meta += list(self.imputation_model.parameters())
        self._build_meta(meta)

    def _objective(self, data, idx):
        users, items, labels = data.biased.take(idx)
        inv_prop = 1.0 / torch.sigmoid(self.propensity_model(users, items)).clamp(min=self.clip)
        if self.ltd_variant == "dr":
            pseudo = lambda u, i: torch.sigmoid(self.imputation_model(u, i))  # noqa: E731
            return dr_prediction_loss(self.model, pseudo, data, users, items, labels, inv_prop,
                                      int(self.space_factor) * len(idx), self.loss)
        return ips_estimate(pair_loss(self.model(users, items), labels, self.loss), inv_prop, data.obs_ratio)


register_method(
    MethodEntry(
        name="ltd",
        kind="recommender",
        factory=LTD,
        task="recommend",
        version="2",
        description="LTD: propensity (and imputation, DR form) meta-learned on the unbiased ratings by one-step look-ahead",
        papers=("ultd",),
    )
)
