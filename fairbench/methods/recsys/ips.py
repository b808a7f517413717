"""IPS (Schnabel et al., ICML 2016): inverse-propensity-weighted MF.

E_IPS = (1/|D|) sum_O e_{u,i} / p_hat_{u,i}. Propensities (ultd.md §5.2):

- ``learned`` (default): a logistic model on one-hot user / item fitted to the observation
  indicators over D, clipped at ``clip`` (the DR-JL code family; uses no unbiased data);
- ``naive_bayes``: p(r) = P(o=1) P(r | o=1) / P(r) per label value, P(r) from the unbiased ratings A
  (the AutoDebias code); then the method uses A.
"""

from __future__ import annotations

import torch

from ._debias import PropensityWeighted, ips_estimate
from ._mf import Recommender, pair_loss, step
from .._checks import check_choice
from ..base import MethodEntry
from ..registry import register_method

PROPENSITIES = ("learned", "naive_bayes")


def naive_bayes_inverse_propensity(data, labels: torch.Tensor, clip: float) -> torch.Tensor:
    """1 / p(o=1 | r) by Bayes' rule with P(r) estimated on A (binary labels)."""
    p_obs = data.obs_ratio
    out = torch.empty_like(labels)
    for value in (0.0, 1.0):
        p_r_given_o = float((data.biased.labels == value).float().mean())
        p_r = float((data.unbiased.labels == value).float().mean())
        p = p_obs * p_r_given_o / p_r if p_r > 0 else 1.0
        out[labels == value] = 1.0 / max(min(p, 1.0), clip)
    return out


class IPS(PropensityWeighted, Recommender):
    def __init__(self, propensity: str = "learned", clip: float = 0.05, prop: dict | None = None,
                 batch_size: int = 64, **base):
        super().__init__(batch_size=batch_size, **base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        check_choice("propensity", self.propensity, PROPENSITIES)
        self._check_propensity()

    @property
    def uses_unbiased(self) -> bool:  # type: ignore[override]
        return self.propensity == "naive_bayes"

    def _build(self, data):
        super()._build(data)
        if self.propensity == "naive_bayes":
            self.inv_prop_ = naive_bayes_inverse_propensity(data, data.biased.labels, self.clip)
            self.diagnostics_ = {"mean_inverse_propensity": float(self.inv_prop_.mean())}
        else:
            self._fit_propensity(data)

    def _train_epoch(self, data):
        total = 0.0
        for idx in data.obs_batches(self.batch_size):
            users, items, labels = data.biased.take(idx)
            err = pair_loss(self.model(users, items), labels, self.loss)
            total += step(self.opt, ips_estimate(err, self.inv_prop_[idx], data.obs_ratio))
        return {"loss": total}


register_method(
    MethodEntry(
        name="ips",
        kind="recommender",
        factory=IPS,
        task="recommend",
        version="2",
        description="inverse-propensity-scored MF; logistic propensity on observation indicators, clipped at 0.05",
        papers=("ultd",),
    )
)
