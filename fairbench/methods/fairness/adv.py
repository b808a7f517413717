"""Adv — Grari, Lamprier & Detyniecki (arXiv 2008.13122): adversarial counterfactual regression.

An adversarial VAE (:mod:`._adversarial_vae`) supplies counterfactual features ``x̂_{a'}``; the
predictor ``h(x, a)`` (``[x, a] → 64 → 32 → 16 → 1``, ReLU, Adam lr 1e-4, batch 256) minimises

    MSE(h(x, a), y) + λ · mean_{a'} (h(x̂_{a'}, a') − h(x̂_a, a))²

over ``draws`` (20) values ``a' ~ U[min a_train, max a_train]`` per batch, shared by its rows, as in
Grari's ``cf_predictor.py``. Predictions are ``h(x, a)`` on the raw features.

The OB paper's two λ are stripped from its Table 1 header (unknown); the benchmark uses λ = 1 and
λ = 5 (ob.md §3). A counterfactual model handed over with :meth:`use_generator` is used instead of
training one — the task does this so that, as in Grari's notebook, the penalty and the CF-metric
use the same VAE; its training time is then reported with Adv's (``generator_seconds_``).
"""

from __future__ import annotations

import numpy as np
import torch

from ...core.errors import FairbenchError
from ._adversarial_vae import AdversarialVAE, VAESettings
from .._random import seed_from
from .._threads import limited_threads
from ..base import GroupAwarePredictor, MethodEntry
from ..learners.mlp import check_schedule, inputs, relu_network
from ..registry import register_method


class AdversarialCounterfactual(GroupAwarePredictor):
    _shared_generator: AdversarialVAE | None = None  # set by use_generator

    def __init__(self, lam: float = 1.0, epochs: int = 2000, batch_size: int = 256, lr: float = 1e-4,
                 draws: int = 20, vae: dict | None = None, random_state: int = 0):
        self._store(locals())

    def _check_params(self) -> None:
        check_schedule(self.epochs, self.batch_size, self.lr)
        if self.lam < 0 or int(self.draws) < 1:
            raise FairbenchError(f"Adv needs lam >= 0 and draws >= 1, got lam={self.lam}, draws={self.draws}")
        VAESettings.from_dict(self.vae)

    def use_generator(self, generator: AdversarialVAE) -> None:
        """Use this fitted counterfactual model instead of training one in ``fit``."""
        self._shared_generator = generator

    @limited_threads()
    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray) -> "AdversarialCounterfactual":
        self._check_params()
        a = np.asarray(s, dtype=np.float64).reshape(len(X), -1)
        seed = seed_from(self.random_state)  # the VAE, the initialisation, minibatch order and draws of a'
        self.generator_ = (self._shared_generator if self._shared_generator is not None
                           else AdversarialVAE(VAESettings.from_dict(self.vae), seed).fit(X, y, a))
        self.generator_seconds_ = self.generator_.fit_seconds_
        vae = self.generator_.net_
        x, a_t = inputs(X, None, False), torch.as_tensor(a, dtype=torch.float32)
        y_t = torch.as_tensor(np.asarray(y, dtype=np.float32).reshape(-1, 1))
        low, high = a_t.min(dim=0).values, a_t.max(dim=0).values
        generator = torch.Generator().manual_seed(seed)
        self.net_ = relu_network(x.shape[1] + a_t.shape[1], seed)
        optimiser = torch.optim.Adam(self.net_.parameters(), lr=float(self.lr))
        n, batch_size, draws, lam = len(x), int(self.batch_size), int(self.draws), float(self.lam)
        with torch.no_grad():  # the VAE is fixed while h trains: decode once per row
            latent = vae.encode(x, a_t, y_t)[0]
            x_factual = vae.decode(latent, a_t)[0]
        for _ in range(int(self.epochs)):
            order = torch.randperm(n, generator=generator)
            for begin in range(0, n, batch_size):
                rows = order[begin : begin + batch_size]
                optimiser.zero_grad()
                loss = torch.nn.functional.mse_loss(self.net_(torch.cat([x[rows], a_t[rows]], 1)), y_t[rows])
                if lam > 0:
                    b = len(rows)
                    a_new = low + (high - low) * torch.rand((draws, a_t.shape[1]), generator=generator)
                    a_rep = a_new.repeat_interleave(b, dim=0)
                    with torch.no_grad():
                        x_cf = vae.decode(latent[rows].repeat(draws, 1), a_rep)[0]
                    h_cf = self.net_(torch.cat([x_cf, a_rep], 1))
                    h_f = self.net_(torch.cat([x_factual[rows], a_t[rows]], 1)).repeat(draws, 1)
                    loss = loss + lam * ((h_cf - h_f) ** 2).mean()
                loss.backward()
                optimiser.step()
        return self

    def predict(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.net_(inputs(X, s, True)).numpy()[:, 0].astype(np.float64)


register_method(
    MethodEntry(
        name="adv",
        kind="predictor",
        factory=AdversarialCounterfactual,
        task="cf_continuous",
        version="1",
        description="Adv (Grari et al.): adversarial VAE counterfactuals + MLP with counterfactual penalty lambda",
        papers=("ob",),
    )
)
