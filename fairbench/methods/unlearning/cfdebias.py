"""Counterfactual-debiased unlearning (Chen et al. 2024, arXiv 2404.15760, "Ours" of cfdebias; cfdebias.md §1.3-1.7).

Teacher = the original model (frozen); student = a copy of it, trained on

    L = L_r + α·L_f + β·L_CB + γ_ce·CE(student(x_r), y_r)

- **Mask** (Eq. 1, computed once with the teacher): δ = ∇ₓ CE(teacher(x), y) per row; the ``mask_share``
  (50 %) features of smallest |δ| form the background V, the rest the causal part Z (cfdebias.md §6.4:
  magnitude, not the printed sign). Forced into V: the sensitive attribute (every feature column equal
  to s on the training rows) and ``background_columns`` (e.g. age); they count towards the share.
  Image inputs (n, C, H, W) get one mask per pixel from |δ| summed over channels.
- **Intervention** (Eq. 2 with NWGM and uniform priors): x̃ = (1−M)⊙x + M⊙v̄ + γ_int·(1−M)⊙z̄,
  where v̄ is the mean of a fixed pool of ``pool_size`` training rows (the background positions of x
  take the pool's average value there — our reading of "average background") and z̄ the mean causal
  part of pool rows of the *other classes of x's concept*; with no ``concepts`` map (binary tabular
  data) z̄ = 0 (cfdebias.md §6.5). γ_int = 0.2.
- **L_r** = mean KL(teacher(x̃_r) ‖ student(x̃_r)) over D_r.
- **Counterfactuals** of the forget rows (Eq. 3), ``counterfactuals``: ``auto`` (default) picks by input
  shape. ``cchvae`` (rows): the C-CHVAE search of :mod:`._cchvae` with the row's background V immutable,
  so δ ∈ Z_j; the VAE is fitted in ``prepare`` on the training rows. Two defaults differ from CARLA's for
  cost (``VAE``, ``CF_SEARCH`` below; ``vae`` / ``cf_search`` override). ``headtails`` (images): the
  pixel-space Headtails search of :mod:`._headtails` (cells of a same-concept distractor pasted into the
  query until the teacher's prediction flips; ``headtails`` overrides its parameters), whose edits and
  flip rate join ``report_``.
- **L_f** (Eq. 4) = mean KL(teacher(x̃_cf) ‖ student(x̃_f)) over forget rows with a counterfactual.
- **L_CB**: ξ = L2-normalised penultimate student features; for forget row j, positive ξ(x_j^cf),
  negatives the in-batch retain rows whose teacher class differs from the teacher's class of x_j
  (at most ``max_negatives``), −(1/|N_j|)·log(e^{ξ_j·ξ_cf/τ} / (e^{ξ_j·ξ_cf/τ} + Σ_k e^{ξ_j·ξ_k/τ})), τ = 0.1.
- One epoch visits every retain row once (batches of ``batch_size``) and, alongside, every forget row
  once (the forget batch scaled to the same number of steps). Adam, 5 epochs, lr 1e-4 (Sec. 6.1);
  α, β, γ_ce = 0.6, 0.2, 0.2 (the only published full-model values, cfdebias.md §6.2).

Randomness: ``prepare`` (the VAE) and ``unlearn`` (pool rows, minibatch order, counterfactual search)
are random phases 0 and 1 of ``random_state`` (:func:`fairbench.methods._random.torch_generator`).

``report_`` after ``unlearn``: counterfactual share found, mean L1 distance, shells searched, and the
split of the run time into counterfactual search (``cf_seconds``) and optimisation (``update_seconds``).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ...core.errors import FairbenchError
from ...datasets.base import Split
from . import _cchvae, _headtails
from .._checks import check_choice, check_nonnegative, check_positive
from ..learners._torch_classifier import (
    ROW_CHUNK_VALUES, batches, check_torch_classifier, chunked_forward, cycling, descend, frozen_copy,
    kl_teacher_student, optimiser, row_chunks, split_tensors, student_copy,
)
from .._random import torch_generator
from .._threads import limited_threads
from ..base import MethodEntry, Unlearner
from ..registry import register_method


# Cost-driven departures from CARLA's C-CHVAE defaults (measured on Adult, 600 forget rows): a [64, 32]
# VAE instead of [512, 256] (the decoder dominates the search: 17 s -> 3 s) and shells widened by 0.5
# instead of 0.1 (4x fewer shells; mean L1 distance of the counterfactuals 5.53 vs 5.59), up to 200
# shells (a latent L1 radius of 100, far outside the prior's mass) instead of 1000.
VAE = {"hidden": (64, 32)}
CF_SEARCH = {"step": 0.5, "max_iter": 200}
GENERATORS = ("auto", "cchvae", "headtails")


def input_gradient(network: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """Per-row ∇ₓ CE(network(x), y) (rows are independent, so the gradient of the summed loss), in chunks of
    at most ``batch`` rows and of :func:`row_chunks`' bound on input values (images at 224 px: ~100 rows)."""
    out = []
    for rows in row_chunks(x, values=min(ROW_CHUNK_VALUES, batch * max(1, x[0].numel()) if len(x) else 1)):
        xb = x[rows].clone().requires_grad_(True)
        loss = F.cross_entropy(network(xb), y[rows], reduction="sum")
        out.append(torch.autograd.grad(loss, xb)[0])
    return torch.cat(out) if out else torch.zeros_like(x)


def gradient_mask(magnitude: torch.Tensor, share: float, forced: torch.Tensor | None = None) -> torch.Tensor:
    """Background mask M (True = V) per row: the ``round(share·m)`` features of smallest magnitude, after
    the ``forced`` ones (always in V, counted in the share). ``magnitude`` is (n, m)."""
    n, m = magnitude.shape
    k = int(round(share * m))
    if not 0 <= k <= m:
        raise FairbenchError(f"mask share must be in [0, 1], got {share}")
    score = magnitude.clone()
    if forced is not None and forced.any():
        score[:, forced] = -torch.inf
        k = max(k, int(forced.sum()))
    order = torch.argsort(score, dim=1, stable=True)
    mask = torch.zeros((n, m), dtype=torch.bool, device=magnitude.device)
    mask.scatter_(1, order[:, :k], True)
    return mask


def feature_mask(network: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, share: float,
                 forced: torch.Tensor | None) -> torch.Tensor:
    """M with x's shape: per feature for (n, d) rows, per pixel (|δ| summed over channels) for (n, C, H, W)."""
    grad = input_gradient(network, x, y).abs()
    if x.ndim == 2:
        return gradient_mask(grad, share, forced)
    if x.ndim == 4:
        pixels = grad.sum(dim=1).reshape(len(x), -1)
        mask = gradient_mask(pixels, share, forced).reshape(len(x), 1, *x.shape[2:])
        return mask.expand_as(x)
    raise FairbenchError(f"cfdebias masks (n, d) rows or (n, C, H, W) images, got shape {tuple(x.shape)}")


def sensitive_columns(x: np.ndarray, s: np.ndarray | None) -> list[int]:
    """Feature columns that equal the sensitive attribute on every row (its one-hot / 0-1 encoding)."""
    if s is None or x.ndim != 2 or np.asarray(s).ndim != 1:
        return []
    s = np.asarray(s, dtype=np.float64)
    return [j for j in range(x.shape[1]) if np.array_equal(x[:, j].astype(np.float64), s)]


class Intervention:
    """x̃ = (1−M)⊙x + M⊙v̄ + γ_int·(1−M)⊙z̄_{class}: v̄, z̄ from a fixed pool of training rows."""

    def __init__(self, pool_x: torch.Tensor, pool_y: torch.Tensor, pool_mask: torch.Tensor, gamma_int: float,
                 concepts: Sequence[int] | None):
        self.background = pool_x.mean(dim=0)
        self.gamma_int = float(gamma_int)
        self.causal_mean: torch.Tensor | None = None
        if concepts is not None and self.gamma_int > 0:
            concept = torch.as_tensor(list(concepts), dtype=torch.long, device=pool_y.device)
            causal = (~pool_mask) * pool_x
            means = []
            for c in range(len(concept)):
                others = (concept[pool_y] == concept[c]) & (pool_y != c)
                means.append(causal[others].mean(dim=0) if others.any() else torch.zeros_like(self.background))
            self.causal_mean = torch.stack(means)

    def __call__(self, x: torch.Tensor, mask: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = torch.where(mask, self.background.expand_as(x), x)
        if self.causal_mean is not None:
            out = out + self.gamma_int * (~mask) * self.causal_mean[y]
        return out


def contrastive_boundary(xi_f: torch.Tensor, xi_cf: torch.Tensor, xi_r: torch.Tensor, class_f: torch.Tensor,
                         class_r: torch.Tensor, tau: float, max_negatives: int) -> torch.Tensor:
    """Mean over forget rows of −(1/|N_j|)·log softmax-weight of the counterfactual among {cf} ∪ N_j."""
    if len(xi_f) == 0:
        return xi_f.new_zeros(())
    negative = class_r[None, :] != class_f[:, None]
    negative &= torch.cumsum(negative.long(), dim=1) <= max_negatives
    pos = (xi_f * xi_cf).sum(dim=1, keepdim=True) / tau
    neg = (xi_f @ xi_r.T) / tau
    neg = torch.where(negative, neg, torch.full_like(neg, -torch.inf))
    log_weight = pos[:, 0] - torch.logsumexp(torch.cat([pos, neg], dim=1), dim=1)
    count = negative.sum(dim=1).clamp_min(1)
    return (-log_weight / count).mean()


class CounterfactualDebiasing(Unlearner):
    vae_: _cchvae.TabularVAE | None = None  # the counterfactual generator, fitted by prepare
    train_: Split | None = None
    receives = ("dataset_meta",)  # concepts: dataset reads the dataset's class -> concept map from its meta

    def __init__(self, alpha: float = 0.6, beta: float = 0.2, gamma_ce: float = 0.2, gamma_int: float = 0.2,
                 mask_share: float = 0.5, tau: float = 0.1, max_negatives: int = 64, epochs: int = 5,
                 lr: float = 1e-4, batch_size: int = 256, optimizer: str = "adam", pool_size: int = 32,
                 background_columns: Sequence[int] = (), concepts: Sequence[int] | str | None = None,
                 cf_search: dict | None = None, vae: dict | None = None, counterfactuals: str = "auto",
                 headtails: dict | None = None, random_state: int | None = None):
        self._store(locals())

    def _check_params(self) -> None:
        check_nonnegative(alpha=self.alpha, beta=self.beta, gamma_ce=self.gamma_ce, gamma_int=self.gamma_int)
        check_positive(tau=self.tau, max_negatives=self.max_negatives, epochs=self.epochs, lr=self.lr,
                       batch_size=self.batch_size, pool_size=self.pool_size)
        if not 0 <= self.mask_share <= 1:
            raise FairbenchError(f"mask_share must be in [0, 1], got {self.mask_share}")
        check_choice("counterfactuals", self.counterfactuals, GENERATORS)

    def generator(self, x: torch.Tensor) -> str:
        """The counterfactual generator for inputs ``x``: ``auto`` is Headtails for images, C-CHVAE for rows."""
        name = {2: "cchvae", 4: "headtails"}.get(x.ndim) if self.counterfactuals == "auto" else self.counterfactuals
        if (name, x.ndim) not in (("cchvae", 2), ("headtails", 4)):
            raise FairbenchError(f"cfdebias counterfactuals '{self.counterfactuals}' do not apply to inputs of shape "
                                 f"{tuple(x.shape)} (cchvae: (n, d) rows; headtails: (n, C, H, W) images)")
        return name

    def _concepts(self) -> list[int] | None:
        """The class -> concept map: the list given, or with ``concepts: dataset`` the dataset's own
        (``meta["class_concepts"]``: CIFAR-100's super-classes, CUB-200's clusters), so a paper spec need not
        spell out 100 or 200 numbers; None: no concepts (binary tabular tasks)."""
        if isinstance(self.concepts, str):
            if self.concepts != "dataset":
                raise FairbenchError(f"concepts must list a concept per class or be 'dataset', got {self.concepts!r}")
            concepts = self.received("dataset_meta").get("class_concepts")
            if concepts is None:
                raise FairbenchError("concepts: dataset, but the dataset has no class -> concept map (meta['class_concepts'])")
            return [int(c) for c in concepts]
        return None if self.concepts is None else [int(c) for c in self.concepts]

    @limited_threads()
    def prepare(self, model: Any, train: Split) -> None:
        """Deletion-independent work: the counterfactual generator's VAE on the training rows."""
        self._check_params()
        check_torch_classifier(model, "cfdebias")
        self.train_ = train
        if self.generator(model.tensor(train.X[:1])) == "cchvae":  # one row tells rows from images
            x = model.tensor(train.X)
            self.vae_ = _cchvae.fit_vae(x, torch_generator(self.random_state, phase=0), **{**VAE, **(self.vae or {})})

    def forced_background(self, model: Any, x: torch.Tensor, split: Split) -> torch.Tensor | None:
        if x.ndim != 2:
            return None
        forced = torch.zeros(x.shape[1], dtype=torch.bool)
        for c in [int(c) for c in self.background_columns] + sensitive_columns(np.asarray(split.X), split.s):
            if not -x.shape[1] <= c < x.shape[1]:
                raise FairbenchError(f"background column {c} is outside the {x.shape[1]} features")
            forced[c] = True
        return forced

    @limited_threads()
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        check_torch_classifier(model, "cfdebias")
        concepts = self._concepts()
        if concepts is not None and len(concepts) < model.network_.head.out_features:
            raise FairbenchError("concepts must map every class to its concept")
        alpha, beta, gamma_ce = float(self.alpha), float(self.beta), float(self.gamma_ce)
        batch_size = int(self.batch_size)
        start = time.perf_counter()
        gen = torch_generator(self.random_state, phase=1)
        teacher = frozen_copy(model.network_)
        student = student_copy(model.network_)
        xf, yf = split_tensors(model, forget)
        xr, yr = split_tensors(model, retain)
        forced = self.forced_background(model, xr, retain)
        mask_f = feature_mask(teacher, xf, yf, float(self.mask_share), forced)
        mask_r = feature_mask(teacher, xr, yr, float(self.mask_share), forced)

        pool_rows = torch.randperm(len(xf) + len(xr), generator=gen)[: int(self.pool_size)]
        pool = lambda a, b: torch.cat([a, b])[pool_rows]  # noqa: E731 — D_r ∪ D_f, cfdebias.md §6.5
        intervene = Intervention(pool(xf, xr), pool(yf, yr), pool(mask_f, mask_r), float(self.gamma_int), concepts)

        cf_start = time.perf_counter()
        if self.generator(xf) == "headtails":
            cf = _headtails.search(teacher, xf, torch.cat([xf, xr]), torch.cat([yf, yr]), xr, yr, concepts, gen,
                                   **(self.headtails or {}))
        else:
            if self.vae_ is None:
                self.prepare(model, self.train_ or Split(np.concatenate([forget.X, retain.X]),
                                                         np.concatenate([forget.y, retain.y])))
            with torch.no_grad():
                classify = lambda batch: teacher(batch).argmax(dim=1)  # noqa: E731
                cf = _cchvae.search(classify, self.vae_, xf, mask_f, gen, **{**CF_SEARCH, **(self.cf_search or {})})
        cf_seconds = time.perf_counter() - cf_start

        with torch.no_grad():  # whole-set teacher passes in row chunks: one for a table, bounded for images
            xr_int = intervene(xr, mask_r, yr)
            xf_int = intervene(xf, mask_f, yf)
            target_f = chunked_forward(teacher, intervene(cf.x, mask_f, yf))
            target_r = chunked_forward(teacher, xr_int)
            class_f = chunked_forward(teacher, xf).argmax(dim=1)
            class_r = chunked_forward(teacher, xr).argmax(dim=1)
        has_cf = cf.found

        opt = optimiser(student.parameters(), self.optimizer, float(self.lr))
        steps = -(-len(xr) // batch_size)
        forget_batches = _cycle_rows(len(xf), max(1, -(-len(xf) // steps)), gen)
        update_start = time.perf_counter()
        student.train()
        for _ in range(int(self.epochs)):
            for rows in batches(len(xr), batch_size, gen):
                frows = next(forget_batches)
                frows = frows[has_cf[frows]] if (alpha or beta) else frows[:0]
                nr, nf = len(rows), len(frows)
                # one pass of the student over every input of the step, x̃_r, x_r, then x̃_f, x_f, x_cf of the
                # forget rows with a counterfactual (the same as separate passes for the tabular DNN, whose
                # layers act row by row; per-call overhead dominates these small batches)
                features = student.features(torch.cat([xr_int[rows], xr[rows], xf_int[frows], xf[frows], cf.x[frows]]))
                logits = student.head(features[: 2 * nr + nf])
                loss = kl_teacher_student(target_r[rows], logits[:nr])
                if gamma_ce:
                    loss = loss + gamma_ce * F.cross_entropy(logits[nr : 2 * nr], yr[rows])
                if nf and alpha:
                    loss = loss + alpha * kl_teacher_student(target_f[frows], logits[2 * nr :])
                if nf and beta:
                    xi = F.normalize(features[nr:], dim=1)
                    xi_r, _, xi_f, xi_cf = torch.split(xi, [nr, nf, nf, nf])
                    loss = loss + beta * contrastive_boundary(xi_f, xi_cf, xi_r, class_f[frows], class_r[rows],
                                                              float(self.tau), int(self.max_negatives))
                descend(opt, loss)
        student.eval()
        end = time.perf_counter()
        self.report_ = {
            "cf_found_share": float(has_cf.float().mean()) if len(has_cf) else float("nan"),
            "cf_mean_l1": float(torch.nanmean(cf.distance)) if has_cf.any() else float("nan"),
            "cf_shells": float(cf.shells),
            "cf_seconds": cf_seconds,
            "update_seconds": end - update_start,
            "total_seconds": end - start,
            **(cf.summary() if isinstance(cf, _headtails.ImageCounterfactuals) else {}),
        }
        return model.with_network(student)


def _cycle_rows(n: int, batch_size: int, gen: torch.Generator):
    if n == 0:
        while True:
            yield torch.zeros(0, dtype=torch.long)
    yield from cycling(n, batch_size, gen)


register_method(
    MethodEntry(
        name="cfdebias",
        kind="unlearner",
        factory=CounterfactualDebiasing,
        task="unlearn",
        # 2: the counterfactual search draws from a work queue (rows leave and enter the batch as they finish),
        # so its random numbers go to other rows than in version 1 (each row's search is the same), and the
        # student's passes of a step are one concatenated pass
        version="2",
        description="counterfactual-debiased unlearning (Chen et al. 2024): interventional remembering (gradient "
                    "mask, γ_int), counterfactual forgetting (C-CHVAE), contrastive boundary loss, CE on D_r",
        papers=("cfdebias",),
        needs_model=("network", "image_network"),
    )
)
