"""AutoDebias (Chen et al., SIGIR 2021): meta-learned debiasing parameters.

L_T(theta; phi) = mean_O w1_{u,i,r} l(f, r) + imputation_weight * mean_D w2_{u,i} l(f, m_{u,i}), with
w1 = exp(a_u + b_i + c_r), w2 = exp(a'_u + b'_i) and m = sigmoid(a''_u + b''_i + c) linear in
one-hot user, item and label (ultd.md §5.9). Each batch: a look-ahead step of the predictor on
L_T, an update of phi on the look-ahead predictor's loss on the unbiased ratings, then the real
predictor step. Adam everywhere (the paper's setting), not the reference code's SGD.
"""

from __future__ import annotations

import torch

from ._debias import BiLevel
from ._mf import Additive, Recommender, pair_loss
from ..base import MethodEntry
from ..registry import register_method

MAX_LOG_WEIGHT = 10.0  # caps exp(weight logits); the weights are free parameters otherwise


class AutoDebias(BiLevel, Recommender):
    uses_unbiased = True

    def __init__(self, imputation_weight: float = 0.05, space_factor: int = 1, meta_lr: float | None = None,
                 lookahead_lr: float | None = None, meta_weight_decay: float = 0.0, loss: str = "mse", **base):
        super().__init__(loss=loss, **base)
        self._store(locals())

    def _build(self, data):
        super()._build(data)
        rate = float(data.biased.labels.mean().clamp(1e-3, 1 - 1e-3))
        self.weight_observed = Additive(data.n_users, data.n_items, n_codes=2)
        self.weight_space = Additive(data.n_users, data.n_items)
        self.imputation_model = Additive(data.n_users, data.n_items, bias=float(torch.logit(torch.tensor(rate))))
        self._build_meta([p for m in (self.weight_observed, self.weight_space, self.imputation_model)
                          for p in m.parameters()], float(self.meta_weight_decay))

    def _objective(self, data, idx):
        users, items, labels = data.biased.take(idx)
        w1 = torch.exp(self.weight_observed(users, items, labels.long()).clamp(max=MAX_LOG_WEIGHT))
        su, si = data.space_batch(int(self.space_factor) * len(idx))
        w2 = torch.exp(self.weight_space(su, si).clamp(max=MAX_LOG_WEIGHT))
        imputed = torch.sigmoid(self.imputation_model(su, si))
        observed = (w1 * pair_loss(self.model(users, items), labels, self.loss)).mean()
        space = (w2 * pair_loss(self.model(su, si), imputed, self.loss)).mean()
        return observed + float(self.imputation_weight) * space


register_method(
    MethodEntry(
        name="autodebias",
        kind="recommender",
        factory=AutoDebias,
        task="recommend",
        version="2",
        description="AutoDebias: sample weights and imputation meta-learned on the unbiased ratings (look-ahead)",
        papers=("ultd",),
    )
)
