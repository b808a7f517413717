"""C-CHVAE-style counterfactuals for tabular rows (Pawelczyk et al., WWW 2020; arXiv 1910.09398).

A VAE is fitted on the training rows; for a factual x the search encodes it (posterior mean z),
samples ``n_search_samples`` latent points uniformly in the L_p shell low ≤ ‖δ‖_p < high around z
(Gaussian directions rescaled to a uniform radius, CARLA's ``hyper_sphere_coordindates``), decodes them,
puts back the factual's *immutable* features, and keeps the candidates the classifier assigns a class
other than its class for x. The nearest one in input space (L_p) is the counterfactual; when none
flips, the shell moves out by ``step`` (low ← high, high ← high + step), up to ``max_iter`` shells.
Defaults are CARLA's (``carla/recourse_methods/catalog/cchvae``, cfdebias.md §3.8): 300 samples, p = 1,
step 0.1, 1000 shells; VAE [512, 256] hidden, 8 latent, KL weight 0.3, 5 epochs, lr 1e-3, batch 32.

Differences from CARLA, on purpose: the VAE encodes every feature (the immutable set is per row here —
cfdebias's background mask — so it cannot be removed from the VAE's input), decodes linearly
(standardised, not [0, 1]-scaled, features; no clamp), and all factuals are searched at once in chunks
(vectorised) instead of one by one. Rows with no flip within ``max_iter`` shells are reported as not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .._checks import check_positive
from .._random import seed_of, torch_seeded
from .._threads import limited_threads
from ..learners._torch_classifier import batches, descend
CHUNK_ELEMENTS = 4_000_000  # decoded candidate values per search chunk (memory bound)


class TabularVAE(nn.Module):
    def __init__(self, n_in: int, hidden: Sequence[int] = (512, 256), latent: int = 8):
        super().__init__()
        enc: list[nn.Module] = []
        width = n_in
        for h in hidden:
            enc += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.encoder = nn.Sequential(*enc)
        self.mu = nn.Linear(width, latent)
        self.logvar = nn.Linear(width, latent)
        dec: list[nn.Module] = []
        width = latent
        for h in reversed(tuple(hidden)):
            dec += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.decoder = nn.Sequential(*dec, nn.Linear(width, n_in))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


@limited_threads()
def fit_vae(x: torch.Tensor, gen: torch.Generator, hidden: Sequence[int] = (512, 256), latent: int = 8,
            kl_weight: float = 0.3, epochs: int = 5, lr: float = 1e-3, batch_size: int = 32,
            weight_decay: float = 1e-6, min_steps: int = 2000) -> TabularVAE:
    """MSE reconstruction + kl_weight · KL(q(z|x) ‖ N(0, I)); Adam; CARLA's ``lambda_reg`` as weight decay.

    At least ``min_steps`` Adam steps (more epochs on small tables): CARLA's 5 epochs are 4,700 steps on
    Adult but 125 on German's 800 rows, where the undertrained decoder then flips almost no prediction."""
    check_positive(epochs=epochs, lr=lr, batch_size=batch_size, latent=latent)
    epochs = max(int(epochs), -(-int(min_steps) // -(-len(x) // int(batch_size))))
    with torch_seeded(seed_of(gen)):
        vae = TabularVAE(x.shape[1], hidden, latent)
    opt = torch.optim.Adam(vae.parameters(), lr=lr, weight_decay=weight_decay)
    vae.train()
    for _ in range(int(epochs)):
        for rows in batches(len(x), int(batch_size), gen):
            xb = x[rows]
            mu, logvar = vae.encode(xb)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
            recon = F.mse_loss(vae.decode(z), xb, reduction="none").sum(dim=1).mean()
            kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
            loss = recon + kl_weight * kl
            descend(opt, loss)
    vae.eval()
    for p in vae.parameters():
        p.requires_grad_(False)
    return vae


@dataclass
class Counterfactuals:
    x: torch.Tensor  # (n, d); the factual itself where none was found
    found: torch.Tensor  # (n,) bool
    distance: torch.Tensor  # (n,) L_p distance to the factual (nan where not found)
    shells: int  # shells searched by the slowest row


def shell_samples(center: torch.Tensor, n: int, low: torch.Tensor, high: torch.Tensor, p: float,
                  gen: torch.Generator) -> torch.Tensor:
    """(c, n, k) points with L_p distance to ``center`` (c, k) uniform in [low, high) (per row)."""
    direction = torch.randn((center.shape[0], n, center.shape[1]), generator=gen)
    radius = low[:, None] + torch.rand((center.shape[0], n), generator=gen) * (high - low)[:, None]
    scale = radius / torch.linalg.vector_norm(direction, ord=p, dim=2).clamp_min(1e-12)
    return center[:, None, :] + direction * scale[..., None]


@limited_threads()
def search(classify: Callable[[torch.Tensor], torch.Tensor], vae: TabularVAE, x: torch.Tensor,
           immutable: torch.Tensor | None, gen: torch.Generator, n_search_samples: int = 300, p_norm: float = 1.0,
           step: float = 0.1, max_iter: int = 1000) -> Counterfactuals:
    """Counterfactuals of the rows ``x`` (module docstring). ``classify`` maps a batch to class codes;
    ``immutable`` (n, d) bool marks the features copied from the factual (None: all mutable)."""
    check_positive(n_search_samples=n_search_samples, p_norm=p_norm, step=step, max_iter=max_iter)
    n, d = x.shape
    out = x.clone()
    found = torch.zeros(n, dtype=torch.bool)
    distance = torch.full((n,), float("nan"))
    shells = 0
    if n == 0:
        return Counterfactuals(out, found, distance, shells)
    keep = torch.zeros_like(x, dtype=torch.bool) if immutable is None else immutable.bool()
    with torch.no_grad():
        original = classify(x)
        z = vae.encode(x)[0]
        chunk = max(1, CHUNK_ELEMENTS // (n_search_samples * d))
        for start in range(0, n, chunk):
            rows = torch.arange(start, min(n, start + chunk))
            low = torch.zeros(len(rows))
            high = torch.full((len(rows),), float(step))
            for shell in range(1, int(max_iter) + 1):
                open_rows = ~found[rows]
                if not open_rows.any():
                    break
                shells = max(shells, shell)
                r = rows[open_rows]
                latent = shell_samples(z[r], n_search_samples, low[open_rows], high[open_rows], p_norm, gen)
                decoded = vae.decode(latent.reshape(-1, latent.shape[-1])).reshape(len(r), n_search_samples, d)
                candidate = torch.where(keep[r][:, None, :], x[r][:, None, :], decoded)
                flipped = classify(candidate.reshape(-1, d)).reshape(len(r), n_search_samples) != original[r][:, None]
                dist = torch.linalg.vector_norm(candidate - x[r][:, None, :], ord=p_norm, dim=2)
                dist = torch.where(flipped, dist, torch.full_like(dist, float("inf")))
                best, at = dist.min(dim=1)
                hit = torch.isfinite(best)
                out[r[hit]] = candidate[hit, at[hit]]
                distance[r[hit]] = best[hit]
                found[r[hit]] = True
                low[open_rows] = high[open_rows]
                high[open_rows] = high[open_rows] + step
    return Counterfactuals(out, found, distance, shells)
