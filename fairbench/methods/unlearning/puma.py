"""PUMA (Wu, Hashemi, Srinivasa, AAAI 2022; arXiv 2203.00846), "Performance Unchanged Model Augmentation".

No public code exists; this is the reconstruction of cfdebias.md §3.5 (treat its cells loosely).
Removing D_f from a model θ* that (approximately) minimises the training loss is, to first order,
the influence step Δθ = H⁻¹ g_f / n_r with g_f = Σ_{D_f} ∇ℓ and H the Hessian of the mean retain loss.
PUMA compensates the performance that removal costs by re-weighting remaining points, ℓ_z → (1 + w_z) ℓ_z,
with sparse weights chosen so that the first-order change of each performance criterion C_k vanishes::

    Δθ = H⁻¹ (g_f − Σ_{z∈D_r} w_z ∇ℓ_z) / n_r,       ∇C_kᵀ Δθ = 0  for every k

The criteria are the per-class mean retain losses. With u_k = H⁻¹∇C_k and A_kz = u_kᵀ∇ℓ_z (one
forward-mode derivative of the per-row losses per criterion), the constraints read A w = c with
c_k = u_kᵀ g_f; w is the minimum-norm solution on the ``support`` share of retain rows with the largest
‖A_·z‖ (sparse), so no per-row gradient is ever materialised. H is damped (H + λI, λ = ``damping``
= 0.1: with 0.01 the step overshoots on a network that memorises its rows — retain accuracy 0.96 → 0.49
on the toy problem of the tests — as influence steps do where the curvature is near zero),
estimated on at most ``hessian_rows`` retain rows, and inverted by conjugate gradients on
Hessian-vector products (stopping at negative curvature). ``parameters="all"`` patches every parameter
(tabular DNN), ``"head"`` only the final linear layer (image backbones).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.func import functional_call, grad, jvp
from torch.nn import functional as F

from ...datasets.base import Split
from .._checks import check_choice, check_positive
from ..learners._torch_classifier import check_torch_classifier, chunked_forward, frozen_copy, split_tensors
from .._random import torch_generator
from .._threads import limited_threads
from ..base import MethodEntry, Unlearner
from ..registry import register_method

PARAMETERS = ("all", "head")


def conjugate_gradient(hvp: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iterations: int,
                       tol: float = 1e-6) -> torch.Tensor:
    """Approximate (H)⁻¹b; stops early at the tolerance or at a direction of non-positive curvature."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = r @ r
    stop = tol * tol * (b @ b)
    for _ in range(iterations):
        if rr <= stop:
            break
        hp = hvp(p)
        curvature = p @ hp
        if curvature <= 0:
            break
        step = rr / curvature
        x = x + step * p
        r = r - step * hp
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


class Puma(Unlearner):
    def __init__(self, support: float = 0.1, damping: float = 0.1, cg_iterations: int = 50,
                 hessian_rows: int = 8192, scale: float = 1.0, parameters: str = "all",
                 random_state: int | None = None):
        self._store(locals())

    def _check_params(self) -> None:
        check_choice("parameters", self.parameters, PARAMETERS)
        check_positive(support=self.support, damping=self.damping, cg_iterations=self.cg_iterations,
                       hessian_rows=self.hessian_rows, scale=self.scale)

    @limited_threads()
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        check_torch_classifier(model, "PUMA")
        support, damping, scale = min(float(self.support), 1.0), float(self.damping), float(self.scale)
        gen = torch_generator(self.random_state)
        net = frozen_copy(model.network_)
        head_only = self.parameters == "head"
        # Patching the head leaves the body fixed: its features are computed once and the head alone is
        # the model whose loss is differentiated (ResNets: a 512 x K linear layer instead of the network).
        patched = net.head if head_only else net
        names = [k for k, _ in patched.named_parameters()]
        base = {k: v.detach().clone() for k, v in patched.named_parameters()}
        shapes = [base[k].shape for k in names]
        sizes = [base[k].numel() for k in names]
        theta = torch.cat([base[k].reshape(-1) for k in names])

        def losses(flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            params = dict(base)
            for k, piece, shape in zip(names, torch.split(flat, sizes), shapes):
                params[k] = piece.reshape(shape)
            return F.cross_entropy(functional_call(patched, params, (x,)), y, reduction="none")

        xf, yf = split_tensors(model, forget)
        xr, yr = split_tensors(model, retain)
        if head_only:
            xf, xr = chunked_forward(net.body, xf), chunked_forward(net.body, xr)  # the eval-mode body's features
        rows = torch.randperm(len(xr), generator=gen)[: int(self.hessian_rows)]
        xh, yh = xr[rows], yr[rows]
        mean_loss = grad(lambda f: losses(f, xh, yh).mean())

        def hvp(v: torch.Tensor) -> torch.Tensor:
            return jvp(mean_loss, (theta,), (v,))[1] + damping * v

        def solve(b: torch.Tensor) -> torch.Tensor:
            return conjugate_gradient(hvp, b, int(self.cg_iterations))

        g_forget = grad(lambda f: losses(f, xf, yf).sum())(theta)
        classes = [c for c in torch.unique(yr).tolist()]
        directions = [solve(grad(lambda f, c=c: losses(f, xr[yr == c], yr[yr == c]).mean())(theta)) for c in classes]
        A = torch.stack([jvp(lambda f: losses(f, xr, yr), (theta,), (u,))[1] for u in directions])  # (K, n_r)
        c = torch.stack([u @ g_forget for u in directions])
        k = max(len(classes), int(round(support * len(xr))))
        chosen = torch.topk(A.norm(dim=0), k=min(k, len(xr))).indices
        A_s = A[:, chosen].double()
        gram = A_s @ A_s.T + 1e-12 * torch.eye(len(classes), dtype=torch.float64, device=A_s.device)
        w = torch.zeros(len(xr), device=xr.device)
        w[chosen] = (A_s.T @ torch.linalg.solve(gram, c.double())).float()
        g_reweight = grad(lambda f: (w * losses(f, xr, yr)).sum())(theta)
        delta = scale * solve(g_forget - g_reweight) / len(xr)
        self.report_ = {"weights_l1": float(w.abs().sum()), "support_rows": float(len(chosen)),
                        "step_norm": float(delta.norm())}

        student = frozen_copy(model.network_)
        with torch.no_grad():
            for (k, p) in (student.head if head_only else student).named_parameters():
                if k in names:
                    i = names.index(k)
                    start = sum(sizes[:i])
                    p.add_(delta[start : start + sizes[i]].reshape(shapes[i]))
        return model.with_network(student)


register_method(
    MethodEntry(
        name="puma",
        kind="unlearner",
        factory=Puma,
        task="unlearn",
        version="2",
        description="PUMA (Wu et al. 2022), reconstructed: influence removal step with sparse re-weighting of "
                    "retained rows that keeps per-class retain losses unchanged to first order",
        papers=("cfdebias",),
        needs_model=("network", "image_network"),
    )
)
