"""Pieces shared by the propensity / imputation / meta-learning recommenders (ultd.md §1, §5).

- :func:`fit_propensity`: p(o = 1 | u, i) from observation indicators over the whole space D
  (a logistic model on one-hot user and item, sampled batches of D; ultd.md §7 item 20);
- :func:`ips_estimate` / :func:`dr_estimate`: mini-batch estimates of E_IPS and E_DR;
- :func:`lookahead_weights`: one differentiable SGD step of an MF predictor, for the bi-level
  (LTD, AutoDebias) and calibration (Res-*) methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ...core.errors import FairbenchError
from ._mf import MF, Additive, Optimizer, RecData, adam, pair_loss, step


def fit_propensity(
    data: RecData, *, epochs: int = 10, batch_size: int = 1024, lr: float = 0.05, weight_decay: float = 0.0,
    max_steps: int = 3000,
) -> Additive:
    """Logistic propensity model sigma(a_u + b_i + c) fitted by log loss on o_{u,i} over D.

    One epoch is |D| / batch_size steps on uniform samples of D (with replacement), at most
    ``max_steps`` in all, so Coat (87,000 pairs: 850 steps) and KuaiRec (77 M pairs) use the same
    code without materialising D. The bias starts at logit(|O| / |D|).
    """
    rate = min(max(data.obs_ratio, 1e-6), 1 - 1e-6)
    model = Additive(data.n_users, data.n_items, bias=float(torch.logit(torch.tensor(rate))))
    opt = adam(model.parameters(), lr, weight_decay)
    steps = max(1, (data.n_users * data.n_items) // batch_size)
    for _ in range(min(epochs * steps, max_steps)):
        users, items = data.space_batch(batch_size)
        observed, _ = data.index.lookup(users, items)
        step(opt, torch.nn.functional.binary_cross_entropy_with_logits(model(users, items), observed))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@dataclass(frozen=True)
class PropensitySettings:
    """How the observation-propensity model is fitted (method parameter ``prop: {...}``)."""

    epochs: int = 10
    batch_size: int = 1024
    lr: float = 0.05
    weight_decay: float = 0.0
    max_steps: int = 3000

    def fit(self, data: RecData) -> Additive:
        return fit_propensity(data, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                              weight_decay=self.weight_decay, max_steps=self.max_steps)


def inverse_propensity(model: Additive, users: torch.Tensor, items: torch.Tensor, clip: float) -> torch.Tensor:
    """1 / max(p_hat, clip) (the DR-JL code family clips propensities at 0.05)."""
    return 1.0 / torch.sigmoid(model(users, items)).clamp(min=clip)


def ips_estimate(err_obs: torch.Tensor, inv_prop_obs: torch.Tensor, obs_ratio: float) -> torch.Tensor:
    """E_IPS = (1/|D|) sum_O e / p_hat, estimated from a batch of O: (|O|/|D|) mean_batch(e / p_hat)."""
    return obs_ratio * (err_obs * inv_prop_obs).mean()


def dr_estimate(
    err_obs: torch.Tensor, imp_obs: torch.Tensor, inv_prop_obs: torch.Tensor, imp_space: torch.Tensor, obs_ratio: float
) -> torch.Tensor:
    """E_DR = (1/|D|) sum_D [e_hat + o (e - e_hat) / p_hat], estimated from a batch of O (errors
    ``err_obs``, imputed errors ``imp_obs``) and a uniform batch of D (imputed errors ``imp_space``):
    mean_D(e_hat) + (|O|/|D|) mean_O((e - e_hat) / p_hat). Unbiased for E_DR for any batch sizes."""
    return imp_space.mean() + obs_ratio * ((err_obs - imp_obs) * inv_prop_obs).mean()


def lookahead_weights(model: MF, loss: torch.Tensor, lr: float) -> dict[str, torch.Tensor]:
    """The predictor's parameters after one SGD step on ``loss``, kept differentiable w.r.t.
    whatever ``loss`` depends on besides the predictor (weights, propensities, imputations)."""
    names, params = zip(*model.named_parameters())
    grads = torch.autograd.grad(loss, params, create_graph=True)
    return {name: p - lr * g for name, p, g in zip(names, params, grads)}


def check_clip(clip: float) -> None:
    if not 0 < clip <= 1:
        raise FairbenchError(f"clip must be in (0, 1], got {clip}")


class PropensityWeighted:
    """Mixin for recommenders weighting O by learned inverse propensities (parameters ``clip`` and
    ``prop``, the :class:`PropensitySettings` as a dict)."""

    clip: float
    prop: dict | None

    def _check_propensity(self) -> None:
        check_clip(self.clip)
        self._propensity_settings()

    def _propensity_settings(self) -> PropensitySettings:
        try:
            return PropensitySettings(**(self.prop or {}))
        except TypeError as exc:
            raise FairbenchError(f"prop: {exc}") from None

    def _fit_propensity(self, data: RecData) -> Additive:
        """Fit the propensity model; ``inv_prop_`` holds 1 / p_hat for every biased pair."""
        model = self._propensity_settings().fit(data)
        clip = float(self.clip)
        self.inv_prop_ = inverse_propensity(model, data.biased.users, data.biased.items, clip)
        self.diagnostics_ = {
            "mean_inverse_propensity": float(self.inv_prop_.mean()),
            "share_clipped": float((self.inv_prop_ >= 1.0 / clip - 1e-6).float().mean()),
        }
        return model


def imputation_step(
    imputation: MF, optimizer: Optimizer, pred_logits: torch.Tensor, users: torch.Tensor,
    items: torch.Tensor, labels: torch.Tensor, inv_prop: torch.Tensor, loss: str,
) -> float:
    """DR-JL's imputation update: pseudo-labels r_hat = sigmoid(m(u, i)) such that the imputed error
    e_hat = l(f, r_hat) matches the observed error e = l(f, r) on O, inverse-propensity weighted:
    min_phi mean_O (e - e_hat)^2 / p_hat, with the predictor held fixed."""
    pred_logits = pred_logits.detach()
    err = pair_loss(pred_logits, labels, loss)
    imputed = pair_loss(pred_logits, torch.sigmoid(imputation(users, items)), loss)
    return step(optimizer, ((err - imputed).pow(2) * inv_prop).mean())


def dr_prediction_loss(
    model: MF, pseudo_label: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], data: RecData,
    users: torch.Tensor, items: torch.Tensor, labels: torch.Tensor, inv_prop: torch.Tensor,
    space_size: int, loss: str, weights: dict[str, torch.Tensor] | None = None, logits: torch.Tensor | None = None,
) -> torch.Tensor:
    """E_DR of the predictor (optionally with look-ahead ``weights``) on a batch of O plus a uniform
    batch of D, with imputed errors e_hat = l(f, r_hat) from ``pseudo_label(users, items)``.
    ``logits``: the predictor's logits on the batch of O when the caller has them already (with their graph)."""
    su, si = data.space_batch(space_size)
    if logits is None:
        logits = model(users, items, weights)
    err = pair_loss(logits, labels, loss)
    imp_obs = pair_loss(logits, pseudo_label(users, items), loss)
    imp_space = pair_loss(model(su, si, weights), pseudo_label(su, si), loss)
    return dr_estimate(err, imp_obs, inv_prop, imp_space, data.obs_ratio)


def meta_step(
    optimizer: Optimizer, meta_params: list[torch.Tensor], model: MF, inner_loss: torch.Tensor,
    lookahead_lr: float, data: RecData, batch_size: int, loss: str,
) -> float:
    """Bi-level update of the debiasing parameters (LTD, AutoDebias): take a differentiable SGD
    step of the predictor on ``inner_loss``, evaluate the look-ahead predictor on a batch of the
    unbiased ratings A, and move ``meta_params`` down that loss's gradient."""
    weights = lookahead_weights(model, inner_loss, lookahead_lr)
    users, items, labels = data.unbiased.take(data.unbiased_batch(batch_size))
    outer = pair_loss(model(users, items, weights), labels, loss).mean()
    grads = torch.autograd.grad(outer, meta_params, allow_unused=True)
    optimizer.zero_grad(set_to_none=True)
    for param, grad in zip(meta_params, grads):
        param.grad = grad
    optimizer.step()
    return float(outer.detach())


def predictor_step(optimizer: Optimizer, model: MF, loss: torch.Tensor) -> float:
    """Update only the predictor on ``loss`` (debiasing parameters get no gradient)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward(inputs=list(model.parameters()))
    optimizer.step()
    return float(loss.detach())


class JointImputation:
    """Mixin: DR-JL's pseudo-label imputation model with its own Adam (``imp_lr``, ``imp_weight_decay``
    default to the predictor's), for the recommenders whose DR loss uses a learned imputation."""

    imp_lr: float | None = None
    imp_weight_decay: float | None = None

    def _build_imputation(self, data: RecData) -> None:
        self.imputation_model = self.new_mf(data)
        decay = self.weight_decay if self.imp_weight_decay is None else self.imp_weight_decay
        self.imp_opt = adam(self.imputation_model.parameters(), self.imp_lr or self.lr, decay)

    def _pseudo_label(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.sigmoid(self.imputation_model(users, items))

    def _joint_dr_loss(self, data: RecData, idx: torch.Tensor, inv_prop: torch.Tensor) -> torch.Tensor:
        """One imputation update on the batch, then the predictor's E_DR with the updated imputation."""
        users, items, labels = data.biased.take(idx)
        logits = self.model(users, items)  # the imputation update leaves the predictor as it is
        imputation_step(self.imputation_model, self.imp_opt, logits, users, items, labels, inv_prop, self.loss)
        return dr_prediction_loss(self.model, self._pseudo_label, data, users, items, labels, inv_prop,
                                  int(self.space_factor) * len(idx), self.loss, logits=logits)


class BiLevel:
    """Mixin for meta-learned debiasing (LTD, AutoDebias): per batch of O, a look-ahead update of
    ``meta_params`` on the unbiased ratings, then the real predictor step on ``_objective``."""

    meta_lr: float | None = None
    lookahead_lr: float | None = None

    def _objective(self, data: RecData, idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _build_meta(self, params: list[torch.Tensor], weight_decay: float = 0.0) -> None:
        for param in params:
            param.requires_grad_(True)
        self.meta_params = params
        self.meta_opt = adam(params, self.meta_lr or self.lr, weight_decay)

    def _train_epoch(self, data: RecData) -> dict[str, float]:
        total, outer = 0.0, 0.0
        for idx in data.obs_batches(self.batch_size):
            outer += meta_step(self.meta_opt, self.meta_params, self.model, self._objective(data, idx),
                               self.lookahead_lr or self.lr, data, len(idx), self.loss)
            total += predictor_step(self.opt, self.model, self._objective(data, idx))
        return {"loss": total, "unbiased_lookahead_loss": outer}
