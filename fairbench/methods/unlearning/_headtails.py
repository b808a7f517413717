"""Headtails-style image counterfactuals in pixel space (Vandenhende et al., ECCV 2022, arXiv 2203.12892;
cfdebias.md §3.8 and the pixel-space variant of §6.6).

The teacher's last spatial feature map (the input of the body's global average pool: an h×w grid of
cells, 7×7 for ResNet-18 at 224 px or resnet_mini at 28 px) explains its prediction; a counterfactual
of query x replaces some of x's cells by cells of *distractor* images until the prediction changes:

- **Query class** p = the teacher's prediction for x (the decision being explained; equal to the label
  for the correctly classified training images that make up nearly all of a forget set).
- **Distractor class** d(p): the class the teacher confuses p with most often on the training data
  (off-diagonal argmax of its confusion matrix, ties broken by the mean probability it gives that
  class), restricted to p's concept (cfdebias: "distractor images sharing the same class-level
  concept") and to *retained* classes, i.e. classes with a correctly classified image in D_r. When
  every other class of the concept is being deleted, the most-confused retained class of any concept
  (cfdebias.md §6.6).
- **Distractors**: up to ``n_distractors`` (20) D_r images of class d that the teacher classifies
  correctly, drawn once per class from the generator.
- **Candidate edits**: (query cell i, distractor cell j) pairs, the top ``topk`` (20 %) by cosine
  similarity of the cells' features. The original uses self-supervised SwAV ResNet-50 features; none
  are available offline, so the teacher's own feature map is used (cfdebias.md §6.7: a documented
  deviation, recorded as ``cf_similarity_own_features`` = 1 in the unlearner's report).
- **Greedy loop**: each step picks the edit maximising log p(d | edited x) + λ·log softmax_τ(similarity)
  (λ = 0.4, τ = 0.1), in two stages. (1) Every candidate is scored in feature space: average pooling and
  a linear head make an edit change the logits by W(f_j − f_i)/(h·w), and log p(d) is taken to first
  order in that change (its gradient e_d − p), so all candidates of a chunk of queries are a few gathers
  (memory bounded by ``CHUNK_VALUES``, as for the trial images below). (2) The ``shortlist`` (16) best are applied *in pixel space* —
  the receptive-field patch of distractor cell j (its input pixels, rows ⌊j_r·H/h⌋…⌊(j_r+1)·H/h⌋ and
  likewise columns; resized to the query cell's patch when the grid does not divide the image) pasted
  over query cell i — and scored exactly with one teacher pass over all of them; the best is kept. The
  search stops when the teacher's prediction on the edited pixels differs from p, after ``max_edits``
  edits, or when no unused candidate is left. Each query cell and each distractor cell is used at most
  once. (Pixel re-scoring matters: on 100 Fashion-MNIST queries of a 5-epoch resnet_mini, the
  feature-space choice alone flipped 37 % within the 49 cells, the shortlist 48 %.)

Cells, not the gradient mask, are the unit of change here: unlike C-CHVAE's rows (whose background V is
immutable), an image counterfactual may change background pixels inside a chosen cell (Eq. 3's δ ∈ Z_j
is not enforced; the paper takes Headtails as it is).

A reported flip is a flip of the teacher on the returned pixels; rows without one keep the factual
(``found`` False). Only the chosen cells' pixels differ from the query (``cells`` marks them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...core.errors import FairbenchError
from .._checks import check_positive
from .._threads import limited_threads
from ..learners._torch_classifier import chunked_forward

CHUNK_VALUES = 1 << 24  # values held at once: candidate scores, or trial images' pixels
CONSISTENCY_TOLERANCE = 1e-3


@dataclass
class ImageCounterfactuals:
    x: torch.Tensor  # (n, C, H, W); the factual itself where none was found
    found: torch.Tensor  # (n,) bool: the teacher's prediction on x differs from the factual's
    distance: torch.Tensor  # (n,) L1 distance to the factual (nan where not found)
    shells: int  # the most edits any row used (the counterpart of C-CHVAE's shells)
    edits: torch.Tensor  # (n,) number of pasted cells
    cells: torch.Tensor  # (n, h, w) bool: the query cells that were replaced
    distractor_class: torch.Tensor  # (n,) long, -1 where no class qualifies

    def summary(self) -> dict[str, float]:
        """Numbers for the unlearner's report (edits over the rows with a flip)."""
        flipped = self.found
        return {
            "cf_flip_rate": float(flipped.float().mean()) if len(flipped) else float("nan"),
            "cf_edits_mean": float(self.edits[flipped].float().mean()) if flipped.any() else float("nan"),
            "cf_edits_max": float(self.shells),
            "cf_similarity_own_features": 1.0,
        }


def _global_pool(network: nn.Module) -> nn.Module:
    pools = [m for m in network.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    if not pools:
        raise FairbenchError("headtails counterfactuals need a network whose body ends in a global average pool")
    return pools[-1]


def spatial_features(network: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(feature map (n, c, h, w) entering the global average pool, logits (n, K)), without gradients."""
    pool = _global_pool(network)
    maps: list[torch.Tensor] = []
    hook = pool.register_forward_hook(lambda module, inputs, output: maps.append(inputs[0].float()))
    try:
        logits = chunked_forward(network, x).float()
    finally:
        hook.remove()
    if not maps:
        return x.new_zeros((0, 0, 0, 0)), x.new_zeros((0, 0))
    return torch.cat(maps), logits


def check_linear_readout(network: nn.Module, maps: torch.Tensor, logits: torch.Tensor) -> None:
    """Feature-space scoring assumes logits = head(mean of the cells); refuse networks where it is not so."""
    if len(maps) == 0:
        return
    readout = network.head(maps[:8].mean(dim=(2, 3)))
    if not torch.allclose(readout, logits[:8], atol=CONSISTENCY_TOLERANCE, rtol=CONSISTENCY_TOLERANCE):
        raise FairbenchError("headtails counterfactuals need logits = head(global average of the last feature map)")


def confusion_scores(predicted: torch.Tensor, probs: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(K, K): [c, c'] = how many images of class c the teacher puts in c', plus half the mean probability
    it gives c' on them (< 1, so it only breaks ties between equal counts)."""
    counts = torch.zeros((n_classes, n_classes), dtype=torch.float64, device=y.device)
    counts.index_put_((y, predicted), torch.ones_like(y, dtype=torch.float64), accumulate=True)
    mass = torch.zeros_like(counts).index_add_(0, y, probs.double())
    per_class = torch.bincount(y, minlength=n_classes).clamp_min(1).double()[:, None]
    return counts + 0.5 * mass / per_class


def distractor_classes(confusion: torch.Tensor, concepts: Sequence[int] | None, available: torch.Tensor) -> torch.Tensor:
    """(K,) the distractor class of each query class (-1 where none is available): most confused among the
    available classes of its concept, else among all available classes."""
    n_classes = confusion.shape[0]
    concept = torch.as_tensor(list(concepts) if concepts is not None else [0] * n_classes, device=confusion.device)
    out = torch.full((n_classes,), -1, dtype=torch.long)
    for c in range(n_classes):
        others = available.clone()
        others[c] = False
        same = others & (concept == concept[c])
        pool = same if same.any() else others
        if pool.any():
            out[c] = int(torch.where(pool, confusion[c], torch.full_like(confusion[c], -math.inf)).argmax())
    return out


def cell_bounds(size: int, cells: int) -> list[tuple[int, int]]:
    return [(i * size // cells, (i + 1) * size // cells) for i in range(cells)]


def paste(target: torch.Tensor, source: torch.Tensor, cell_to: int, cell_from: int, grid: tuple[int, int]) -> None:
    """Copy the pixels of ``source``'s cell ``cell_from`` over ``target``'s cell ``cell_to`` (in place)."""
    rows, cols = cell_bounds(target.shape[-2], grid[0]), cell_bounds(target.shape[-1], grid[1])
    (t0, t1), (l0, l1) = rows[cell_to // grid[1]], cols[cell_to % grid[1]]
    (s0, s1), (k0, k1) = rows[cell_from // grid[1]], cols[cell_from % grid[1]]
    patch = source[:, s0:s1, k0:k1]
    if patch.shape[-2:] != (t1 - t0, l1 - l0):
        patch = F.interpolate(patch[None], size=(t1 - t0, l1 - l0), mode="nearest")[0]
    target[:, t0:t1, l0:l1] = patch


@limited_threads()
def search(teacher: nn.Module, x: torch.Tensor, train_x: torch.Tensor, train_y: torch.Tensor,
           retain_x: torch.Tensor, retain_y: torch.Tensor, concepts: Sequence[int] | None, gen: torch.Generator,
           n_distractors: int = 20, topk: float = 0.2, lam: float = 0.4, tau: float = 0.1,
           max_edits: int | None = None, shortlist: int = 16) -> ImageCounterfactuals:
    """Counterfactuals of the images ``x`` (module docstring) for the frozen ``teacher``; the confusion
    matrix comes from the training images ``train_x`` / ``train_y``, the distractors from ``retain_x``."""
    check_positive(n_distractors=n_distractors, topk=topk, tau=tau, shortlist=shortlist)
    if not 0 < topk <= 1:
        raise FairbenchError(f"headtails topk must be in (0, 1], got {topk}")
    if max_edits is not None:
        check_positive(max_edits=max_edits)
    n = len(x)
    maps, logits = spatial_features(teacher, x)
    grid = tuple(maps.shape[2:]) if n else (1, 1)
    result = ImageCounterfactuals(
        x=x.clone(), found=torch.zeros(n, dtype=torch.bool, device=x.device),
        distance=torch.full((n,), float("nan"), device=x.device), shells=0,
        edits=torch.zeros(n, dtype=torch.long, device=x.device),
        cells=torch.zeros((n, *grid), dtype=torch.bool, device=x.device),
        distractor_class=torch.full((n,), -1, dtype=torch.long, device=x.device))
    if n == 0:
        return result
    check_linear_readout(teacher, maps, logits)
    n_classes = logits.shape[1]
    if concepts is not None and len(concepts) < n_classes:
        raise FairbenchError("concepts must map every class to its concept")

    _, train_logits = spatial_features(teacher, train_x)
    confusion = confusion_scores(train_logits.argmax(dim=1), train_logits.softmax(dim=1), train_y, n_classes)
    _, retain_logits = spatial_features(teacher, retain_x)
    correct = retain_logits.argmax(dim=1) == retain_y
    available = torch.bincount(retain_y[correct], minlength=n_classes)[:n_classes] > 0
    table = distractor_classes(confusion.cpu(), concepts, available.cpu()).to(x.device)

    predicted = logits.argmax(dim=1)
    result.distractor_class = table[predicted]
    limit = int(max_edits) if max_edits is not None else grid[0] * grid[1]
    for d in sorted(set(result.distractor_class.tolist()) - {-1}):
        pool = torch.nonzero(correct & (retain_y == d)).flatten()
        pool = pool[torch.randperm(len(pool), generator=gen)[: int(n_distractors)].to(pool.device)]
        queries = torch.nonzero(result.distractor_class == d).flatten()
        _search_class(teacher, result, queries, retain_x[pool], d, float(topk), float(lam), float(tau), limit, grid,
                      int(shortlist))
    flipped = result.found
    result.distance[flipped] = (result.x[flipped] - x[flipped]).abs().flatten(1).sum(dim=1)
    result.shells = int(result.edits[flipped].max()) if flipped.any() else 0
    return result


def _cells(maps: torch.Tensor) -> torch.Tensor:
    """(n, c, h, w) -> (n, h·w, c)."""
    return maps.flatten(2).transpose(1, 2)


def _search_class(teacher: nn.Module, result: ImageCounterfactuals, queries: torch.Tensor, distractors: torch.Tensor,
                  d: int, topk: float, lam: float, tau: float, limit: int, grid: tuple[int, int],
                  shortlist: int) -> None:
    """The greedy search for the rows ``queries`` of ``result``, whose distractor class is ``d``."""
    head = teacher.head
    n_cells = grid[0] * grid[1]
    d_cells = _cells(spatial_features(teacher, distractors)[0])  # (m, hw, c)
    d_flat = d_cells.reshape(-1, d_cells.shape[-1])  # (m·hw, c): distractor k's cell j at k·hw + j
    d_contrib = F.linear(d_flat, head.weight) / n_cells  # (m·hw, K)
    n_pairs = n_cells * len(d_flat)
    n_candidates = max(1, math.ceil(topk * n_pairs))
    # queries per chunk: their pair similarities and their shortlisted trial images within CHUNK_VALUES
    chunk = max(1, CHUNK_VALUES // max(n_pairs, shortlist * distractors[0].numel()))
    for start in range(0, len(queries), chunk):
        rows = queries[start : start + chunk]
        x = result.x[rows]  # a copy, edited in place
        q_maps, q_logits = spatial_features(teacher, x)
        original = q_logits.argmax(dim=1)
        similarity = F.normalize(_cells(q_maps), dim=2) @ F.normalize(d_flat, dim=1).T  # (n, hw, m·hw)
        sim_top, pair = similarity.flatten(1).topk(n_candidates, dim=1)  # the candidate edits
        prior = lam * torch.log_softmax(sim_top / tau, dim=1)
        q_cell, d_cell = pair // len(d_flat), pair % len(d_flat)
        used_q = torch.zeros((len(rows), n_cells), dtype=torch.bool, device=x.device)
        used_d = torch.zeros((len(rows), len(d_flat)), dtype=torch.bool, device=x.device)
        active = torch.ones(len(rows), dtype=torch.bool, device=x.device)
        for step in range(limit + 1):
            if not active.any():
                break
            if step:
                q_maps, q_logits = spatial_features(teacher, x[active])
                flipped = q_logits.argmax(dim=1) != original[active]
                open_rows = torch.nonzero(active).flatten()
                result.found[rows[open_rows[flipped]]] = True
                active[open_rows[flipped]] = False
                q_maps, q_logits = q_maps[~flipped], q_logits[~flipped]
            if step == limit or not active.any():
                break  # flip checked after the last edit
            a = torch.nonzero(active).flatten()
            # first-order estimate of log p(d) after each edit: the gradient of log softmax(z)_d with respect
            # to the logits, (e_d − p), times the edit's change of the logits W(f_j − f_i)/(h·w)
            slope = F.one_hot(torch.full((len(a),), d, device=x.device), q_logits.shape[1]) - q_logits.softmax(dim=1)
            gain_from = d_contrib @ slope.T  # (m·hw, na): what pasting distractor cell j adds
            gain_lost = torch.einsum("nck,nk->nc", F.linear(_cells(q_maps), head.weight) / n_cells, slope)  # (na, hw)
            score = (gain_from.T.gather(1, d_cell[a]) - gain_lost.gather(1, q_cell[a])
                     + torch.log_softmax(q_logits, dim=1)[:, d : d + 1] + prior[a])
            spent = torch.gather(used_q[a], 1, q_cell[a]) | torch.gather(used_d[a], 1, d_cell[a])
            score = score.masked_fill(spent, -math.inf)
            # the shortlist of the feature-space estimate, scored again on the pasted pixels (one batch)
            short_score, short = score.topk(min(shortlist, score.shape[1]), dim=1)  # (na, S)
            exhausted = torch.isinf(short_score[:, 0])
            active[a[exhausted]] = False
            a, short, short_score = a[~exhausted], short[~exhausted], short_score[~exhausted]
            if len(a):
                i_short, j_short = q_cell[a[:, None], short], d_cell[a[:, None], short]  # (na, S)
                trials = x[a].repeat_interleave(short.shape[1], dim=0)  # one copy of its query per trial
                for t, (row_cell, from_cell) in enumerate(zip(i_short.flatten().tolist(), j_short.flatten().tolist())):
                    paste(trials[t], distractors[from_cell // n_cells], row_cell, from_cell % n_cells, grid)
                _, trial_logits = spatial_features(teacher, trials)
                value = torch.log_softmax(trial_logits, dim=1)[:, d].view_as(short) + prior[a[:, None], short]
                value = value.masked_fill(torch.isinf(short_score), -math.inf)  # spent candidates that filled the list
                pick = value.argmax(dim=1)
                taken = torch.arange(len(a), device=x.device)
                i, j = i_short[taken, pick], j_short[taken, pick]
                x[a] = trials.view(len(a), short.shape[1], *x.shape[1:])[taken, pick]
                used_q[a, i], used_d[a, j] = True, True
                result.cells.view(len(result.cells), -1)[rows[a], i] = True
                result.edits[rows[a]] += 1
        result.x[rows] = torch.where(result.found[rows][:, None, None, None], x, result.x[rows])
        result.cells[rows] &= result.found[rows][:, None, None]
        result.edits[rows] *= result.found[rows]
