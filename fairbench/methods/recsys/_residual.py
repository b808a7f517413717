"""Res-IPS / Res-DR (Li et al., "Removing hidden confounding in recommendation: a unified
multi-task learning approach", NeurIPS; ULTD cites it as 2024a): shared implementation.

No code is public and the paper's equations were not available to us, so this is a documented
reconstruction of the mechanism its abstract and ultd.md §5.10 describe — nominal models learned
from biased data, residual corrections learned with the few unbiased ratings, multi-task training:

- nominal propensity p0 = sigmoid(pi0(u, i)), the logistic observation model of IPS (frozen);
  corrected p = sigmoid(pi0 + delta_p(u, i)) with an additive residual delta_p (zero at start);
- Res-DR also learns a nominal imputation m0 by the DR-JL update against p0 and a residual
  delta_m: r_hat = sigmoid(m0 + delta_m);
- predictor: E_IPS or E_DR with the corrected models + ``beta`` * the loss on a batch of A;
- residuals (calibration): make the corrected estimate of the predictor's loss on O match its
  mean loss on the batch of A, (E(f; p, r_hat) - mean_A l(f, r))^2 + ``gamma`` * ||delta||^2 on the
  batch, with f held fixed.
"""

from __future__ import annotations

import torch

from .._checks import check_choice, check_nonnegative
from ._debias import (
    JointImputation, PropensityWeighted, dr_prediction_loss, imputation_step, inverse_propensity, ips_estimate,
)
from ._mf import Additive, Recommender, adam, pair_loss, step

ESTIMATORS = ("ips", "dr")


class ResidualDebias(JointImputation, PropensityWeighted, Recommender):
    uses_unbiased = True

    """Shared by :mod:`.res_ips` and :mod:`.res_dr`, which register it with their own defaults."""

    def __init__(self, estimator: str = "dr", beta: float = 0.1, gamma: float = 1e-3, clip: float = 0.05,
                 prop: dict | None = None, space_factor: int = 1, res_lr: float | None = None, **base):
        super().__init__(**base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        check_choice("estimator", self.estimator, ESTIMATORS)
        check_nonnegative(beta=self.beta, gamma=self.gamma)
        self._check_propensity()

    def _build(self, data):
        super()._build(data)
        self.nominal_propensity = self._fit_propensity(data)
        self.residual_propensity = Additive(data.n_users, data.n_items)
        residuals = list(self.residual_propensity.parameters())
        if self.estimator == "dr":
            self._build_imputation(data)
            self.residual_imputation = Additive(data.n_users, data.n_items)
            residuals += list(self.residual_imputation.parameters())
        self.residuals = residuals
        self.res_opt = adam(residuals, self.res_lr or self.lr)

    def _inv_prop(self, users, items):
        logit = self.nominal_propensity(users, items) + self.residual_propensity(users, items)
        return 1.0 / torch.sigmoid(logit).clamp(min=self.clip)

    def _corrected_label(self, users, items):
        with torch.no_grad():
            nominal = self.imputation_model(users, items)
        return torch.sigmoid(nominal + self.residual_imputation(users, items))

    def _estimate(self, data, users, items, labels, inv_prop, size, weights=None, pseudo_label=None, logits=None):
        """E_DR or E_IPS of the predictor (at ``weights``; ``logits`` on the batch of O if computed already)."""
        if self.estimator == "dr":
            return dr_prediction_loss(self.model, pseudo_label or self._corrected_label, data, users, items, labels,
                                      inv_prop, size, self.loss, weights, logits)
        if logits is None:
            logits = self.model(users, items, weights)
        return ips_estimate(pair_loss(logits, labels, self.loss), inv_prop, data.obs_ratio)

    def _penalty(self, users, items):
        out = self.residual_propensity(users, items).pow(2).mean()
        if self.estimator == "dr":
            out = out + self.residual_imputation(users, items).pow(2).mean()
        return out

    def _train_epoch(self, data):
        total, gap = 0.0, 0.0
        for idx in data.obs_batches(self.batch_size):
            users, items, labels = data.biased.take(idx)
            size = int(self.space_factor) * len(idx)
            logits = self.model(users, items)  # shared by the imputation update (which leaves f as it is) and E_DR
            if self.estimator == "dr":
                nominal = inverse_propensity(self.nominal_propensity, users, items, self.clip)
                imputation_step(self.imputation_model, self.imp_opt, logits, users, items, labels, nominal, self.loss)
            ua, ia, ra = data.unbiased.take(data.unbiased_batch(len(idx)))
            with torch.no_grad():
                inv_prop = self._inv_prop(users, items)
            pseudo = lambda u, i: self._corrected_label(u, i).detach()  # noqa: E731
            estimate = self._estimate(data, users, items, labels, inv_prop, size, pseudo_label=pseudo, logits=logits)
            unbiased = pair_loss(self.model(ua, ia), ra, self.loss).mean()
            total += step(self.opt, estimate + float(self.beta) * unbiased)
            frozen = {name: p.detach() for name, p in self.model.named_parameters()}
            with torch.no_grad():
                target = pair_loss(self.model(ua, ia), ra, self.loss).mean()
            corrected = self._estimate(data, users, items, labels, self._inv_prop(users, items), size, frozen)
            calibration = (corrected - target).pow(2) + float(self.gamma) * self._penalty(users, items)
            gap += step(self.res_opt, calibration)
        return {"loss": total, "calibration": gap}
