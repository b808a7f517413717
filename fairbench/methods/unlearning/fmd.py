"""FMD as cobum runs it: counterfactual fine-tuning (cobum.md §1.3 item 5, §6.4; registered ``fmd_finetune``).

The paper cites Fast Model Debiasing (Chen et al., NeurIPS 2023: an influence-function Newton step on
counterfactual pairs) but runs fine-tuning variants, one per bias; which one follows the dataset's bias
description (``meta["fairness"]["bias"]``, handed in by the run) unless ``counterfactual`` names it:

- ``pose_resample`` (CUB-200, pose bias). The counterfactual set is D_r resampled so that, within every
  class, each pose bin (the rows' ``s``) present is drawn equally often (row weight ∝ n_c / (k_c·n_{c,b}):
  class sizes kept, pose no longer predicts the class). Per step, cross-entropy on a counterfactual batch
  plus ``forget_weight`` × KL(uniform ‖ p(x_f)) on a forget batch, which suppresses the forget-set
  predictions (bounded, unlike ascent) [reconstructed]. An epoch is |D_r| resampled rows. The paper
  fine-tunes the classifier head (``trainable: fc`` in cobum Table 2).
- ``patch_mask`` (CIFAR-10, red-patch bias). The counterfactual x̃ of a training image x has the patch
  region (``meta["patch"]``: ``row``, ``col``, ``size`` in the stored image's pixels) filled with the
  model's mean colour (its normalised zero). Per step on a batch of D_f ∪ D_r: cross-entropy on x̃ plus
  ``contrastive_weight`` × InfoNCE between the embeddings of x and x̃ (positive pairs, the batch's other
  images as negatives, τ = ``temperature`` = 0.1, symmetric), for patch invariance (cobum.md §3's
  recommendation). The embedding is the body's features; when only the head trains (``trainable: fc``,
  the features cannot move) it is the head's logits. An epoch is one pass over D_f ∪ D_r.

CelebA has no FMD row ("lack of trivially constructable counterfactuals"): an ``attribute`` bias is refused.

``fmd_newton``, the original algorithm (cobum.md §1.3, [ext]: ``richhh520/model-debias``), as an option: one
Newton step on the classification head from counterfactual pairs. Replacing each biased training row z_k
by its counterfactual z̃_k moves the risk minimiser, to first order (influence functions), by

    Δθ = (1/n) (H + λI)⁻¹ Σ_k [∇ℓ(z_k) − ∇ℓ(z̃_k)],

H the Hessian of the mean training loss (D_f ∪ D_r, n rows) in the head's parameters, λ = ``damping``
(the reference's ``--lam 1e-3``), inverted by conjugate gradients (``cg_iterations``: its ``--num-steps
100``). The pairs are the patch's: each forget image and its patch-masked copy (``meta["patch"]``), so it
runs on a patch bias only; the body stays as it is (bit-identical), as in the reference's last-layer mode.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch.func import functional_call, grad, jvp
from torch.nn import functional as F

from ...core.errors import FairbenchError
from ...datasets.base import Split
from .._checks import check_choice, check_nonnegative, check_positive
from .._threads import limited_threads
from ..base import MethodEntry, Unlearner
from ..learners._torch_classifier import (
    EVAL_BATCH, batches, check_torch_classifier, cycling, descend, frozen_copy, labels, smallest_batch,
)
from ..registry import register_method
from ._finetune import FineTuning, batch
from .puma import conjugate_gradient

COUNTERFACTUALS = {"pose": "pose_resample", "patch": "patch_mask"}  # the dataset's bias -> the paper's variant


def pose_balanced_weights(y: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Sampling weights of rows with classes ``y`` and pose ``bins``: each class keeps its share n_c/n and
    spreads it evenly over the k_c bins it has rows in (weight n_c / (k_c·n_{c,b}) / n per row)."""
    y, bins = np.asarray(y), np.asarray(bins)
    weights = np.empty(len(y), dtype=np.float64)
    for c in np.unique(y):
        in_class = y == c
        present, counts = np.unique(bins[in_class], return_counts=True)
        per_bin = dict(zip(present.tolist(), counts.tolist()))
        weights[in_class] = in_class.sum() / (len(present) * np.array([per_bin[b] for b in bins[in_class].tolist()]))
    return weights / weights.sum()


def mask_patch(images: np.ndarray, patch: Mapping[str, Any], fill: np.ndarray) -> np.ndarray:
    """A copy of the uint8 ``images`` ((n, H, W) or (n, H, W, C)) with the square patch region
    [row, row+size) × [col, col+size) set to ``fill`` (one value per channel)."""
    try:
        row, col, size = int(patch["row"]), int(patch["col"]), int(patch["size"])
    except (KeyError, TypeError, ValueError):
        raise FairbenchError(f"fmd_finetune: the dataset's patch description needs row, col and size, got {patch!r}") from None
    out = np.array(images, copy=True)
    out[:, row : row + size, col : col + size] = fill if out.ndim == 4 else fill.mean()
    return out


def mean_colour(model: Any, images: np.ndarray) -> np.ndarray:
    """The model's input mean as uint8 colour(s) (what its normalisation maps to zero); 0 without one."""
    mean = np.asarray(getattr(model, "mean_", [0.0]), dtype=np.float64)
    channels = images.shape[3] if images.ndim == 4 else 1
    values = mean[:channels] if len(mean) >= channels else np.repeat(mean.mean(), channels)
    return np.round(values * 255).astype(np.uint8)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE of paired rows: row i of ``a`` and of ``b`` are positives, the other rows negatives
    (cosine similarity / ``temperature``)."""
    a, b = F.normalize(a.flatten(1), dim=1), F.normalize(b.flatten(1), dim=1)
    logits = a @ b.T / temperature
    target = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def uniform_kl(logits: torch.Tensor) -> torch.Tensor:
    """Batch mean of KL(uniform ‖ softmax(logits)) = −log K − mean_c log p_c: 0 when nothing is predicted."""
    log_p = F.log_softmax(logits, dim=1)
    return (-np.log(logits.shape[1]) - log_p.mean(dim=1)).mean()


class FMDFineTune(FineTuning):
    receives = ("dataset_meta",)

    def __init__(self, counterfactual: str | None = None, trainable: str | None = None, forget_weight: float = 1.0,
                 contrastive_weight: float = 1.0, temperature: float = 0.1, **base: Any):
        super().__init__(**base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        if self.counterfactual is not None:
            check_choice("counterfactual", self.counterfactual, COUNTERFACTUALS.values())
        check_nonnegative(forget_weight=self.forget_weight, contrastive_weight=self.contrastive_weight)
        check_positive(temperature=self.temperature)

    def variant(self, meta: Mapping[str, Any]) -> str:
        if self.counterfactual is not None:
            return self.counterfactual
        bias = (meta.get("fairness") or {}).get("bias")
        if bias not in COUNTERFACTUALS:
            raise FairbenchError(f"fmd_finetune has no counterfactual for the dataset's bias {bias!r} (known: "
                                 f"{', '.join(COUNTERFACTUALS)}; the paper runs no FMD on CelebA's attribute bias)")
        return COUNTERFACTUALS[bias]

    @limited_threads()
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        meta = self.received("dataset_meta")
        variant = self.variant(meta)
        student, opt, trainable = self.student(model, self.trainable)
        if variant == "pose_resample":
            steps = self._pose_resample(model, student, opt, forget, retain)
        else:
            if "patch" not in meta:
                raise FairbenchError("fmd_finetune: patch_mask needs the dataset's patch description (meta['patch'])")
            steps = self._patch_mask(model, student, opt, forget, retain, meta["patch"], trainable)
        self.report_ = {"steps": float(steps)}
        return model.with_network(student.eval())

    def _pose_resample(self, model, student, opt, forget: Split, retain: Split) -> int:
        if retain.s is None:
            raise FairbenchError("fmd_finetune: pose_resample needs each row's pose bin as its sensitive attribute s")
        gen, size, smallest = self.generator(), int(self.batch_size), smallest_batch(student)
        weights = torch.as_tensor(pose_balanced_weights(retain.y, retain.s))
        suppress = cycling(len(forget), size, gen, min_size=smallest)
        steps = 0
        for _ in range(int(self.epochs)):
            drawn = torch.multinomial(weights, len(retain), replacement=True, generator=gen)
            for rows in batches(len(drawn), size, gen, shuffle=False, min_size=smallest):
                x, y = batch(model, retain, drawn[rows])
                xf, _ = batch(model, forget, next(suppress))
                loss = F.cross_entropy(student(x), y) + float(self.forget_weight) * uniform_kl(student(xf))
                descend(opt, loss)
                steps += 1
        return steps

    def _patch_mask(self, model, student, opt, forget: Split, retain: Split, patch: Mapping[str, Any],
                    trainable: str) -> int:
        gen, size, smallest = self.generator(), int(self.batch_size), smallest_batch(student)
        pool = Split(np.concatenate([forget.X, retain.X]), np.concatenate([forget.y, retain.y]))
        fill = mean_colour(model, pool.X)
        steps = 0
        for _ in range(int(self.epochs)):
            for rows in batches(len(pool), size, gen, min_size=smallest):
                x, y = batch(model, pool, rows)
                masked = model.tensor(mask_patch(pool.X[rows.numpy()], patch, fill))
                if trainable == "fc":
                    with torch.no_grad():
                        features, masked_features = student.body(x), student.body(masked)
                    embedding, masked_logits = student.head(features), student.head(masked_features)
                    masked_embedding = masked_logits
                else:
                    embedding, masked_embedding = student.body(x), student.body(masked)
                    masked_logits = student.head(masked_embedding)
                loss = (F.cross_entropy(masked_logits, y)
                        + float(self.contrastive_weight) * info_nce(embedding, masked_embedding, float(self.temperature)))
                descend(opt, loss)
                steps += 1
        return steps


register_method(
    MethodEntry(
        name="fmd_finetune",
        kind="unlearner",
        factory=FMDFineTune,
        task="unlearn",
        version="1",
        description="FMD as cobum runs it: counterfactual fine-tuning (pose-balanced resampling, or patch masking "
                    "with a contrastive loss)",
        papers=("cobum",),
        needs_model=("image_network",),  # its counterfactuals edit images (pose resampling, patch masking)
    )
)


def image_features(model: Any, network: torch.nn.Module, images: np.ndarray) -> torch.Tensor:
    """The body's penultimate features of uint8 ``images``, converted and passed in chunks (no float copy of
    the whole set)."""
    with torch.no_grad():
        chunks = [network.body(model.tensor(images[i : i + EVAL_BATCH])) for i in range(0, len(images), EVAL_BATCH)]
    return torch.cat(chunks)


class FMDNewton(Unlearner):
    receives = ("dataset_meta",)

    def __init__(self, damping: float = 1e-3, cg_iterations: int = 100, scale: float = 1.0):
        self._store(locals())

    def _check_params(self) -> None:
        check_positive(damping=self.damping, cg_iterations=self.cg_iterations, scale=self.scale)

    @limited_threads()
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        check_torch_classifier(model, "fmd_newton")
        patch = self.received("dataset_meta").get("patch")
        if patch is None:
            raise FairbenchError("fmd_newton builds its counterfactual pairs by masking the patch; the dataset has "
                                 "no patch description (meta['patch'])")
        network = frozen_copy(model.network_)
        head = network.head
        n_weight = head.weight.numel()
        theta = torch.cat([head.weight.detach().reshape(-1), head.bias.detach()])

        def total_loss(flat: torch.Tensor, features: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            params = {"weight": flat[:n_weight].reshape(head.weight.shape), "bias": flat[n_weight:]}
            return F.cross_entropy(functional_call(head, params, (features,)), y, reduction="sum")

        biased = image_features(model, network, forget.X)
        counterfactual = image_features(model, network, mask_patch(forget.X, patch, mean_colour(model, forget.X)))
        train = torch.cat([biased, image_features(model, network, retain.X)])
        y_forget = labels(forget.y).to(biased.device)
        y_train = torch.cat([y_forget, labels(retain.y).to(biased.device)])
        shift = (grad(total_loss)(theta, biased, y_forget) - grad(total_loss)(theta, counterfactual, y_forget))
        mean_gradient = grad(lambda flat: total_loss(flat, train, y_train) / len(train))
        damping = float(self.damping)

        def hvp(v: torch.Tensor) -> torch.Tensor:
            return jvp(mean_gradient, (theta,), (v,))[1] + damping * v

        delta = float(self.scale) * conjugate_gradient(hvp, shift, int(self.cg_iterations)) / len(train)
        with torch.no_grad():
            head.weight.add_(delta[:n_weight].reshape(head.weight.shape))
            head.bias.add_(delta[n_weight:])
        self.report_ = {"step_norm": float(delta.norm()), "pairs": float(len(forget))}
        return model.with_network(network)


register_method(
    MethodEntry(
        name="fmd_newton",
        kind="unlearner",
        factory=FMDNewton,
        task="unlearn",
        version="1",
        description="FMD's original step (Chen et al. 2023): one damped Newton step on the head from counterfactual "
                    "(patch-masked) pairs",
        papers=("cobum",),
        needs_model=("image_network",),  # its counterfactual pairs mask an image patch
    )
)
