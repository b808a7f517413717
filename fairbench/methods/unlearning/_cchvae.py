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
(standardised, not [0, 1]-scaled, features; no clamp), and the factuals are searched together from a work
queue (:func:`search`) instead of one by one. Rows with no flip within ``max_iter`` shells are reported as
not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...core.errors import FairbenchError
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


def shell_bounds(shell: torch.Tensor, step: float, growth: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Radii [low, high) of the 0-based ``shell`` indices: widths step·growth^k, so low = k·step for
    growth 1 and step·(growth^k − 1)/(growth − 1) otherwise."""
    k = shell.to(torch.float32)
    if growth == 1:
        low = k * step
        return low, low + step
    low = step * (growth**k - 1) / (growth - 1)
    return low, low + step * growth**k


@limited_threads()
def search(classify: Callable[[torch.Tensor], torch.Tensor], vae: TabularVAE, x: torch.Tensor,
           immutable: torch.Tensor | None, gen: torch.Generator, n_search_samples: int = 300, p_norm: float = 1.0,
           step: float = 0.1, max_iter: int = 1000, growth: float = 1.0,
           batch_rows: int | None = None) -> Counterfactuals:
    """Counterfactuals of the rows ``x`` (module docstring). ``classify`` maps a batch to class codes;
    ``immutable`` (n, d) bool marks the features copied from the factual (None: all mutable).

    Every row walks its own shells, as in the one-row-at-a-time search: shell k covers latent L_p radii
    [k·step, (k+1)·step) (CARLA's search, ``growth`` = 1), or, with ``growth`` g > 1, shells widening
    geometrically (shell k is step·g^k wide, :func:`shell_bounds`: far rows reach their radius in
    O(log) shells, at a coarser radius there). Rows are searched together from a work queue: a batch of ``batch_rows``
    open rows (default: ``CHUNK_ELEMENTS`` decoded values), each at its own shell, and a row that finds
    its counterfactual (or runs out of shells) leaves the batch at once and the next queued row takes its
    place, so every step decodes a full batch. Distances are computed for flipped candidates only."""
    check_positive(n_search_samples=n_search_samples, p_norm=p_norm, step=step, max_iter=max_iter)
    if growth < 1:
        raise FairbenchError(f"growth must be >= 1, got {growth}")
    n, d = x.shape
    out = x.clone()
    found = torch.zeros(n, dtype=torch.bool)
    distance = torch.full((n,), float("nan"))
    if n == 0:
        return Counterfactuals(out, found, distance, 0)
    samples = int(n_search_samples)
    keep = torch.zeros_like(x, dtype=torch.bool) if immutable is None else immutable.bool()
    width = max(1, CHUNK_ELEMENTS // (samples * d)) if batch_rows is None else int(batch_rows)
    check_positive(batch_rows=width)
    with torch.no_grad():
        original = classify(x)
        z = vae.encode(x)[0]
        active = torch.arange(min(width, n))  # rows being searched
        shell = torch.zeros(len(active), dtype=torch.long)  # each active row's current shell (0-based)
        queued = len(active)  # rows [queued, n) wait for a place in the batch
        shells = 0
        while len(active):
            shells = max(shells, int(shell.max()) + 1)
            low, high = shell_bounds(shell, float(step), float(growth))
            latent = shell_samples(z[active], samples, low, high, p_norm, gen)
            decoded = vae.decode(latent.reshape(-1, latent.shape[-1])).reshape(len(active), samples, d)
            candidate = torch.where(keep[active][:, None, :], x[active][:, None, :], decoded)
            flipped = classify(candidate.reshape(-1, d)).reshape(len(active), samples) != original[active][:, None]
            at_row, at_sample = flipped.nonzero(as_tuple=True)  # row-major: samples ascending within a row
            hit = torch.zeros(len(active), dtype=torch.bool)
            if len(at_row):
                flips = candidate[at_row, at_sample]
                dist = torch.linalg.vector_norm(flips - x[active[at_row]], ord=p_norm, dim=1)
                # nearest flip of each row: stable sort by distance, then by row; the first of a row wins
                order = torch.argsort(dist, stable=True)
                order = order[torch.argsort(at_row[order], stable=True)]
                first = torch.ones(len(order), dtype=torch.bool)
                first[1:] = at_row[order][1:] != at_row[order][:-1]
                best = order[first]
                rows = active[at_row[best]]
                out[rows] = flips[best]
                distance[rows] = dist[best]
                found[rows] = True
                hit[at_row[best]] = True
            shell += 1
            stay = ~hit & (shell < int(max_iter))
            refill = torch.arange(queued, min(n, queued + int((~stay).sum())))
            queued += len(refill)
            active = torch.cat([active[stay], refill])
            shell = torch.cat([shell[stay], torch.zeros(len(refill), dtype=torch.long)])
    return Counterfactuals(out, found, distance, shells)
