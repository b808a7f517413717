"""ULTD (Li & Sui): causal recommendation via machine unlearning with a few unbiased data.

Three components (ultd.md §2):

- user unlearning rate, per-user Platt scaling of the prediction model's error on the unbiased
  ratings A: alpha_u = sigmoid(s_u L_A(u) + b_u), s_u = softplus(s~_u) > 0 (order-preserving);
  ``layers`` = 1 is exactly that equation, 2 or 3 an MLP from a learnable user embedding to
  (s~_u, b_u) (ultd.md §7 item 8);
- error-maximising pseudo-label model g (an MF with sigmoid output) trained on uniform samples of
  the whole space D: L_g = -mean_D (f - g)^2 + lam * Omega(g), Omega = mean squared L2 norm of the
  batch's embeddings (§7 item 13), f held fixed;
- debiased prediction loss, users averaged with equal weight after averaging each user's
  observed pairs: L_f = mean_u [alpha_u mean_i (f - g)^2 + (1 - alpha_u) mean_i (f - r)^2], g held
  fixed; the squared error of sigmoid outputs, as in the paper's equations (§7 item 14).

Variants: ``ultd-jl`` (joint learning, Algorithm 1: per batch of O, ``k_f`` updates of (theta, psi)
then ``k_g`` updates of g on batches of D of the same size) and ``ultd-tp`` (two-phase: a naive
f0 early-stopped on validation AUC, then g trained against the frozen f0 for ``g_epochs`` and
frozen, then (theta, psi) trained from f0 (``tp_f_init: pretrained``) or from scratch).

Benchmark interpretations (ultd.md §7): L_A(u) is recomputed from all of u's ratings in A under the
current f (``la_source: full``) as a constant (stop-gradient); users without any rating in A get
the mean error over A (``la_missing: global_mean``; ``zero`` gives alpha = sigmoid(b_u), ``erm``
alpha = 0); b_u starts at ``alpha_bias_init`` = -2 (close to ERM); ``beta`` weights an auxiliary
squared loss of f on a batch of A, ``gamma`` an L2 penalty on psi (both 0 in the literal
method); ``psi_trainable: false`` fixes s_u = 1 and a shared b = ``alpha_bias_init``. The
distribution of alpha_u is logged every epoch.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._mf import Recommender, adam, fit_supervised, step
from .._checks import check_choice, check_nonnegative, check_positive
from ..base import MethodEntry
from ..registry import register_method

LA_MISSING = ("global_mean", "zero", "erm")
LA_SOURCES = ("full", "batch")
TP_INITS = ("pretrained", "random")


class UnlearningRate(nn.Module):
    """psi: alpha_u = sigmoid(softplus(s~_u) * L_A(u) + b_u)."""

    def __init__(self, n_users: int, layers: int = 1, bias_init: float = -2.0, trainable: bool = True,
                 hidden: int = 16):
        super().__init__()
        if layers not in (1, 2, 3):
            raise ValueError(f"layers must be 1, 2 or 3, got {layers}")
        self.layers, self.trainable = layers, trainable
        if not trainable:
            self.register_buffer("shared_bias", torch.tensor(float(bias_init)))
        elif layers == 1:
            self.raw_scale = nn.Parameter(torch.zeros(n_users))
            self.bias = nn.Parameter(torch.full((n_users,), float(bias_init)))
        else:
            self.embedding = nn.Parameter(torch.randn(n_users, hidden) * 0.1)
            blocks: list[nn.Module] = []
            for _ in range(layers - 1):
                blocks += [nn.Linear(hidden, hidden), nn.ReLU()]
            head = nn.Linear(hidden, 2)
            with torch.no_grad():
                head.weight.mul_(0.1)
                head.bias.copy_(torch.tensor([0.0, float(bias_init)]))
            self.net = nn.Sequential(*blocks, head)

    def forward(self, users: torch.Tensor, la: torch.Tensor) -> torch.Tensor:
        if not self.trainable:
            return torch.sigmoid(la + self.shared_bias)
        if self.layers == 1:
            raw, bias = self.raw_scale[users], self.bias[users]
        else:
            raw, bias = self.net(self.embedding[users]).unbind(-1)
        return torch.sigmoid(F.softplus(raw) * la + bias)

    def penalty(self, users: torch.Tensor) -> torch.Tensor:
        if not self.trainable:
            return torch.zeros(())
        if self.layers == 1:
            return (self.raw_scale[users].pow(2) + self.bias[users].pow(2)).mean()
        return self.embedding[users].pow(2).sum(-1).mean()


class ULTD(Recommender):
    """Shared machinery of both variants; ``_train_epoch`` is the variant's schedule."""

    uses_unbiased = True

    def __init__(self, lam: float = 1.0, layers: int = 1, beta: float = 0.1, gamma: float = 0.0,
                 alpha_bias_init: float = -2.0, psi_trainable: bool = True, la_missing: str = "global_mean",
                 la_source: str = "full", k_f: int = 1, k_g: int = 1, g_lr: float | None = None,
                 loss: str = "mse", **base):
        super().__init__(loss=loss, **base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        check_choice("la_missing", self.la_missing, LA_MISSING)
        check_choice("la_source", self.la_source, LA_SOURCES)
        check_positive(k_f=self.k_f, k_g=self.k_g)
        check_nonnegative(lam=self.lam, beta=self.beta, gamma=self.gamma)
        check_choice("layers", self.layers, (1, 2, 3))

    # -- components ----------------------------------------------------------------------------
    def _build_components(self, data) -> None:
        self.pseudo_model = self.new_mf(data)
        self.g_opt = adam(self.pseudo_model.parameters(), self.g_lr or self.lr)
        self.rate_model = UnlearningRate(data.n_users, int(self.layers), float(self.alpha_bias_init),
                                         bool(self.psi_trainable))
        self.f_opt = adam(self.model.parameters(), self.lr, self.weight_decay)
        self.psi_opt = adam(self.rate_model.parameters(), self.lr) if bool(self.psi_trainable) else None
        self.alpha_history_: list[dict[str, float]] = []

    def _la(self, data, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(L_A(u) for ``users`` under the current f, as a constant; mask of users with ratings in A)."""
        with torch.no_grad():
            if self.la_source == "full":
                pool = data.unbiased
                ua, ia, ra = pool.users, pool.items, pool.labels
            else:
                ua, ia, ra = data.unbiased.take(data.unbiased_batch(self.batch_size))
            err = (torch.sigmoid(self.model(ua, ia)) - ra).pow(2)
            sums = torch.zeros(data.n_users).index_add_(0, ua, err)
            counts = torch.zeros(data.n_users).index_add_(0, ua, torch.ones_like(err))
            has = counts[users] > 0
            la = torch.where(has, sums[users] / counts[users].clamp(min=1), torch.zeros(()))
            if self.la_missing == "global_mean":
                la = torch.where(has, la, err.mean())
            return la, has

    def _alpha(self, data, users: torch.Tensor) -> torch.Tensor:
        la, has = self._la(data, users)
        alpha = self.rate_model(users, la)
        if self.la_missing == "erm":
            alpha = torch.where(has, alpha, torch.zeros(()))
        return alpha

    def _f_step(self, data, idx: torch.Tensor) -> float:
        users, items, labels = data.biased.take(idx)
        f = torch.sigmoid(self.model(users, items))
        with torch.no_grad():
            g = torch.sigmoid(self.pseudo_model(users, items))
        uniq, inverse = torch.unique(users, return_inverse=True)
        counts = torch.zeros(len(uniq)).index_add_(0, inverse, torch.ones(len(users)))
        unlearn = torch.zeros(len(uniq)).index_add(0, inverse, (f - g).pow(2)) / counts
        erm = torch.zeros(len(uniq)).index_add(0, inverse, (f - labels).pow(2)) / counts
        alpha = self._alpha(data, uniq)
        loss = (alpha * unlearn + (1.0 - alpha) * erm).mean()
        if self.beta:
            ua, ia, ra = data.unbiased.take(data.unbiased_batch(len(idx)))
            loss = loss + float(self.beta) * (torch.sigmoid(self.model(ua, ia)) - ra).pow(2).mean()
        if self.gamma:
            loss = loss + float(self.gamma) * self.rate_model.penalty(uniq)
        if self.psi_opt is None:
            return step(self.f_opt, loss)
        self.psi_opt.zero_grad(set_to_none=True)
        value = step(self.f_opt, loss)
        self.psi_opt.step()
        return value

    def _g_step(self, data, size: int) -> float:
        su, si = data.space_batch(size)
        with torch.no_grad():
            f = torch.sigmoid(self.model(su, si))
        g = torch.sigmoid(self.pseudo_model(su, si))
        loss = -(f - g).pow(2).mean() + float(self.lam) * self.pseudo_model.sq_norm(su, si)
        return step(self.g_opt, loss)

    def _log_alpha(self, data) -> dict[str, float]:
        with torch.no_grad():
            alpha = self._alpha(data, torch.arange(data.n_users))
        q = torch.quantile(alpha, torch.tensor([0.1, 0.5, 0.9]))
        stats = {"alpha_mean": float(alpha.mean()), "alpha_p10": float(q[0]), "alpha_median": float(q[1]),
                 "alpha_p90": float(q[2])}
        self.alpha_history_.append({k: round(v, 5) for k, v in stats.items()})
        return stats

    def _joint_epoch(self, data, train_g: bool) -> dict[str, float]:
        f_total, g_total = 0.0, 0.0
        for n, idx in enumerate(data.obs_batches(self.batch_size), start=1):
            f_total += self._f_step(data, idx)
            if train_g and n % int(self.k_f) == 0:
                for _ in range(int(self.k_g)):
                    g_total += self._g_step(data, len(idx))
        return {"f_loss": f_total, "g_loss": g_total, **self._log_alpha(data)}

    def _fit_info(self):
        return {**super()._fit_info(), "alpha_history": self.alpha_history_}

    def _kept(self):
        return {"model": self.model, "rate_model": self.rate_model, "pseudo_model": self.pseudo_model}


class ULTDJoint(ULTD):
    """Algorithm 1: (theta, psi) and phi updated alternately throughout training."""

    def __init__(self, lam: float = 1e-4, beta: float = 0.0, batch_size: int = 256, **base):
        super().__init__(lam=lam, beta=beta, batch_size=batch_size, **base)

    def _build(self, data):
        self.model = self.new_mf(data)
        self._build_components(data)

    def _train_epoch(self, data):
        return self._joint_epoch(data, train_g=True)


class ULTDTwoPhase(ULTD):
    """The pseudo-label model g is learned against a pre-trained naive f0 and frozen first."""

    def __init__(self, g_epochs: int = 20, tp_f_init: str = "pretrained", **base):
        super().__init__(**base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        check_choice("tp_f_init", self.tp_f_init, TP_INITS)
        check_positive(g_epochs=self.g_epochs)  # an integer, so > 0 means >= 1

    def _build(self, data):
        self.model = self.new_mf(data)
        phase0 = fit_supervised(self.model, data.biased, data, lr=self.lr, weight_decay=self.weight_decay,
                                batch_size=self.batch_size, loss=self.loss, max_epochs=self.max_epochs,
                                patience=self.patience)
        self._build_components(data)
        steps = int(self.g_epochs) * math.ceil(len(data.biased) / self.batch_size)
        g_loss = sum(self._g_step(data, self.batch_size) for _ in range(steps))
        for param in self.pseudo_model.parameters():
            param.requires_grad_(False)
        if self.tp_f_init == "random":
            fresh = self.new_mf(data)
            self.model.load_state_dict(fresh.state_dict())
        self.diagnostics_ = {"phase0_best_epoch": phase0["best_epoch"], "phase0_valid_auc": phase0["best_valid"],
                             "phase1_g_loss_per_step": g_loss / steps}

    def _train_epoch(self, data):
        return self._joint_epoch(data, train_g=False)


register_method(
    MethodEntry(
        name="ultd-jl",
        kind="recommender",
        factory=ULTDJoint,
        task="recommend",
        version="2",
        description="ULTD, joint learning (Algorithm 1): rates, pseudo-labels and f alternate",
        papers=("ultd",),
    )
)
register_method(
    MethodEntry(
        name="ultd-tp",
        kind="recommender",
        factory=ULTDTwoPhase,
        task="recommend",
        version="2",
        description="ULTD, two-phase: g fitted to a pre-trained f0 and frozen, then (f, psi)",
        papers=("ultd",),
    )
)
