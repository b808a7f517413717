"""Grari et al.'s adversarial VAE (arXiv 2008.13122; ob.md §3 "Adv details"): a counterfactual model.

Encoder ``[x, a, y] → 128 → 64 → 32 → (μ, log σ²)`` (latent 5), decoder ``[z, a] → 60 → (x̂, ŷ)``;
an adversary ``z → 32 (tanh) → 16 (ReLU) → 1`` learns to predict ``a`` from ``z`` (``adversary_steps``
Adam steps per batch, 300 in the first epoch) while the VAE minimises

    β_X·rec(x̂, x) + β_Y·MSE(ŷ, y) + β_mmd·MMD(z, N(0, I)) − β_adv·MSE(adversary(z), a)

(β = 1, 1, 1, 100; Adam lr 1e-3, batch 512, 100 epochs). ``rec`` is binary cross-entropy with a
sigmoid output when the training features lie in [0, 1] (Crime, as Grari's code) and squared error
with a linear output otherwise (what Grari's notebook prescribes for unbounded features).

Counterfactuals (abduction, action, prediction): ``x̂_{a'} = dec(μ(x, a, y), a')`` with the
posterior mean of the factual row. Grari's code also feeds ``a'`` to the encoder; using the factual
``a`` is the textbook abduction, and at ``a' = a`` it returns the row's reconstruction.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...core.errors import FairbenchError
from .._random import seed_from, torch_seeded
from .._threads import limited_threads
from ..base import CounterfactualModel


@dataclass(frozen=True)
class VAESettings:
    epochs: int = 100
    batch_size: int = 512
    adversary_steps: int = 50
    first_epoch_adversary_steps: int = 300
    latent: int = 5
    beta_x: float = 1.0
    beta_y: float = 1.0
    beta_mmd: float = 1.0
    beta_adv: float = 100.0
    lr: float = 1e-3

    @classmethod
    def from_dict(cls, values: dict | None) -> "VAESettings":
        values = dict(values or {})
        unknown = sorted(set(values) - set(asdict(cls())))
        if unknown:
            raise FairbenchError(f"unknown adversarial-VAE settings {unknown}; known: {sorted(asdict(cls()))}")
        settings = cls(**values)
        if settings.epochs < 1 or settings.batch_size < 1 or settings.latent < 1 or settings.adversary_steps < 0:
            raise FairbenchError(f"invalid adversarial-VAE settings {asdict(settings)}")
        return settings


def _mmd(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MMD with Grari's kernel exp(−mean_d (u − v)² / d); batch-sized Gram matrices only."""
    def kernel(u, v):
        return torch.exp(-((u[:, None, :] - v[None, :, :]) ** 2).mean(dim=2) / u.shape[1])

    return kernel(x, x).mean() + kernel(y, y).mean() - 2 * kernel(x, y).mean()


class _Networks(nn.Module):
    def __init__(self, p: int, m: int, latent: int, bounded: bool):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(p + m + 1, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                     nn.Linear(64, 32), nn.ReLU())
        self.mu, self.logvar = nn.Linear(32, latent), nn.Linear(32, latent)
        self.decoder = nn.Sequential(nn.Linear(latent + m, 60), nn.ReLU())
        self.x_out, self.y_out = nn.Linear(60, p), nn.Linear(60, 1)
        self.bounded = bounded

    def encode(self, x, a, y):
        h = self.encoder(torch.cat([x, a, y], dim=1))
        return self.mu(h), self.logvar(h)

    def decode(self, z, a):
        h = self.decoder(torch.cat([z, a], dim=1))
        x_hat = self.x_out(h)
        return (torch.sigmoid(x_hat) if self.bounded else x_hat), self.y_out(h)


def _tensor(values: np.ndarray, columns: int | None = None) -> torch.Tensor:
    array = np.asarray(values, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.reshape(len(array), -1) if columns is None else array))


class AdversarialVAE(CounterfactualModel):
    """Fit on ``(X, y, a)``; ``counterfactual(X, y, a, a_new)`` decodes every row under each new value."""

    def __init__(self, settings: VAESettings | dict | None = None, random_state: int = 0):
        self._store(locals())

    def _check_params(self) -> None:
        self._settings()

    def _settings(self) -> VAESettings:
        return self.settings if isinstance(self.settings, VAESettings) else VAESettings.from_dict(self.settings)

    @limited_threads()
    def fit(self, X: np.ndarray, y: np.ndarray, a: np.ndarray) -> "AdversarialVAE":
        start = time.perf_counter()
        cfg = self._settings()
        x, a_t, y_t = _tensor(X), _tensor(a), _tensor(y)
        self.bounded_ = bool(x.min() >= 0 and x.max() <= 1)
        seed = seed_from(self.random_state)  # initialisation, minibatch order and sampling
        generator = torch.Generator().manual_seed(seed)
        with torch_seeded(seed):
            self.net_ = _Networks(x.shape[1], a_t.shape[1], cfg.latent, self.bounded_)
            adversary = nn.Sequential(nn.Linear(cfg.latent, 32), nn.Tanh(), nn.Linear(32, 16), nn.ReLU(),
                                      nn.Linear(16, a_t.shape[1]))
        opt = torch.optim.Adam(self.net_.parameters(), lr=cfg.lr)
        opt_adv = torch.optim.Adam(adversary.parameters(), lr=cfg.lr)
        n = len(x)
        for epoch in range(cfg.epochs):
            order = torch.randperm(n, generator=generator)
            steps = cfg.first_epoch_adversary_steps if epoch == 0 else cfg.adversary_steps
            for begin in range(0, n, cfg.batch_size):
                rows = order[begin : begin + cfg.batch_size]
                xb, ab, yb = x[rows], a_t[rows], y_t[rows]
                mu, logvar = self.net_.encode(xb, ab, yb)
                z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)
                x_hat, y_hat = self.net_.decode(z, ab)
                rec = F.binary_cross_entropy(x_hat, xb) if self.bounded_ else F.mse_loss(x_hat, xb)
                prior = torch.randn(z.shape, generator=generator)
                z_fixed = z.detach()
                for _ in range(steps):
                    opt_adv.zero_grad()
                    F.mse_loss(adversary(z_fixed), ab).backward()
                    opt_adv.step()
                loss = (cfg.beta_x * rec + cfg.beta_y * F.mse_loss(y_hat, yb) + cfg.beta_mmd * _mmd(prior, z)
                        - cfg.beta_adv * F.mse_loss(adversary(z), ab))
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The fitted model as plain arrays (its networks' weights, ``net.<name>``, and ``bounded``), so that a
        dependant run can use it (:meth:`from_state_arrays`) without training it again."""
        arrays = {f"net.{name}": tensor.detach().numpy().copy() for name, tensor in self.net_.state_dict().items()}
        return {**arrays, "bounded": np.array(self.bounded_)}

    @classmethod
    def from_state_arrays(cls, settings: VAESettings, random_state: int, arrays: dict[str, np.ndarray],
                          fit_seconds: float) -> "AdversarialVAE":
        """The model :meth:`state_arrays` describes (``fit_seconds``: how long its fit took)."""
        model = cls(settings, random_state)
        weights = {name[len("net."):]: torch.from_numpy(np.array(array)) for name, array in arrays.items()
                   if name.startswith("net.")}
        latent = weights["mu.weight"].shape[0]
        model.bounded_ = bool(arrays["bounded"])
        with torch_seeded(0):  # the architecture's own initialisation is replaced below; the global RNG is kept
            model.net_ = _Networks(weights["x_out.weight"].shape[0], weights["decoder.0.weight"].shape[1] - latent,
                                   latent, model.bounded_)
        model.net_.load_state_dict(weights, strict=True)
        model.fit_seconds_ = float(fit_seconds)
        return model

    def _latent(self, X, y, a) -> torch.Tensor:
        with torch.no_grad():
            return self.net_.encode(_tensor(X), _tensor(a), _tensor(y))[0]

    def reconstruct(self, X: np.ndarray, y: np.ndarray, a: np.ndarray) -> np.ndarray:
        """``dec(μ(x, a, y), a)``: the factual row as the model sees it."""
        with torch.no_grad():
            return self.net_.decode(self._latent(X, y, a), _tensor(a))[0].numpy().astype(np.float64)

    def counterfactual(self, X: np.ndarray, y: np.ndarray, a: np.ndarray, a_new: np.ndarray) -> np.ndarray:
        """Rows ``dec(μ_i, a'_r)`` stacked as ``r * n + i`` for the R values ``a_new`` (R × m)."""
        z = self._latent(X, y, a)
        a_new = _tensor(a_new)
        n, R = z.shape[0], a_new.shape[0]
        with torch.no_grad():
            out = self.net_.decode(z.repeat(R, 1), a_new.repeat_interleave(n, dim=0))[0]
        return out.numpy().astype(np.float64)
