"""LoRA unlearning (cobum.md §1.3 item 3): low-rank adapters on named blocks, the original weights frozen.

Every convolution and linear layer inside the named ``blocks`` of the network's body (torchvision ResNet-18:
``layer3``, ``layer4``; any dotted submodule path of the body, ``head`` for the classification layer) gets an
adapter: W = W₀ + (α/r)·B·A with rank r = ``rank``. For a convolution, A is a convolution with W₀'s kernel,
stride and padding into r channels and B a 1×1 convolution back (the LoRA-for-Conv2d form: B·A reshaped
is a weight of W₀'s shape); for a linear layer both are linear maps. A starts at PyTorch's default
initialisation (drawn from ``random_state``), B at zero, so training starts from the original model.
Only A and B train, on [reconstructed, cobum.md §1.3]

    ℓ(B_r) − λ·ℓ(B_f),   λ = ``strength`` = 1,

one retain and one forget batch a step (an epoch is one pass over D_r by default: the paper's LoRA times
are several of its retraining epochs). The network stays in eval mode, so batch normalisation uses and
keeps the original statistics: every parameter and buffer of the original network is bit-identical after
unlearning. Scaling α = r (effective scale 1) and no dropout, as cobum.md recommends (``alpha`` None).

``merge`` False (default) returns the network with its adapters active; True folds them into the weights
(W₀ + (α/r)·B·A, the plain architecture again): the same function up to float rounding.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...core.errors import FairbenchError
from ...datasets.base import Split
from .._checks import check_nonnegative, check_positive
from .._random import seed_of, torch_seeded
from .._threads import limited_threads
from ..base import MethodEntry
from ..learners._torch_classifier import check_torch_classifier, frozen_copy
from ..registry import register_method
from ._finetune import Batch, FineTuning


class LoRAConv2d(nn.Module):
    """``base(x) + scale·up(down(x))`` around a frozen convolution ``base`` (groups 1)."""

    def __init__(self, base: nn.Conv2d, rank: int, scale: float):
        super().__init__()
        if base.groups != 1:
            raise FairbenchError("LoRA adapters need convolutions with groups=1")
        self.base, self.scale = base, scale
        self.down = nn.Conv2d(base.in_channels, rank, base.kernel_size, base.stride, base.padding, base.dilation,
                              bias=False)
        self.up = nn.Conv2d(rank, base.out_channels, 1, bias=False)
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * self.up(self.down(x))

    def delta(self) -> torch.Tensor:
        """scale·B·A as a weight of the base convolution's shape."""
        rank = self.down.out_channels
        return self.scale * (self.up.weight.reshape(-1, rank) @ self.down.weight.reshape(rank, -1)).reshape(
            self.base.weight.shape)


class LoRALinear(nn.Module):
    """``base(x) + scale·up(down(x))`` around a frozen linear layer ``base``."""

    def __init__(self, base: nn.Linear, rank: int, scale: float):
        super().__init__()
        self.base, self.scale = base, scale
        self.down = nn.Linear(base.in_features, rank, bias=False)
        self.up = nn.Linear(rank, base.out_features, bias=False)
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * self.up(self.down(x))

    def delta(self) -> torch.Tensor:
        return self.scale * (self.up.weight @ self.down.weight)


ADAPTERS = {nn.Conv2d: LoRAConv2d, nn.Linear: LoRALinear}
Adapter = (LoRAConv2d, LoRALinear)


def _block(network: nn.Module, name: str) -> nn.Module:
    try:
        return network.body.get_submodule(name)
    except AttributeError:
        children = ", ".join(n for n, _ in network.body.named_children())
        raise FairbenchError(f"lora: the network's body has no block {name!r}; its blocks: {children}, head") from None


def _replace(root: nn.Module, wrap) -> int:
    """Replace every module ``wrap(module)`` returns a substitute for, below ``root``; returns how many."""
    count = 0
    for name, child in list(root.named_children()):
        substitute = wrap(child)
        if substitute is not None:
            setattr(root, name, substitute)
            count += 1
        else:
            count += _replace(child, wrap)
    return count


def add_adapters(network: nn.Module, blocks: Sequence[str], rank: int, scale: float, seed: int) -> int:
    """Put adapters on every convolution / linear layer of ``blocks`` of ``network`` (in place; the adapters'
    A drawn from ``seed``); returns the number of adapted layers."""
    def wrap(module: nn.Module) -> nn.Module | None:
        kind = ADAPTERS.get(type(module))
        return None if kind is None else kind(module, rank, scale).to(module.weight.device)

    count = 0
    with torch_seeded(seed):
        for name in blocks:
            if name != "head":
                count += _replace(_block(network, name), wrap)
            elif type(network.head) is nn.Linear:
                network.head = wrap(network.head)
                count += 1
            else:  # e.g. the one-logit head of a BCE learner, whose output is not its weight's
                raise FairbenchError(f"lora: no adapter for a {type(network.head).__name__} head")
    return count


def merged(network: nn.Module) -> nn.Module:
    """A copy of ``network`` with every adapter folded into its base layer (the plain architecture)."""
    out = copy.deepcopy(network)

    def fold(module: nn.Module) -> nn.Module | None:
        if not isinstance(module, Adapter):
            return None
        base = module.base
        with torch.no_grad():
            base.weight.add_(module.delta())
        return base

    if isinstance(out.head, Adapter):
        out.head = fold(out.head)
    _replace(out, fold)
    return out


class LoRA(FineTuning):
    def __init__(self, rank: int = 8, alpha: float | None = None, blocks: Sequence[str] = ("layer3", "layer4"),
                 strength: float = 1.0, merge: bool = False, epoch_over: str = "retain", **base: Any):
        super().__init__(**base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        check_positive(rank=self.rank)
        check_nonnegative(strength=self.strength)
        if self.alpha is not None:
            check_positive(alpha=self.alpha)
        if isinstance(self.blocks, str) or not self.blocks:
            raise FairbenchError(f"lora: blocks must list block names (e.g. [layer3, layer4]), got {self.blocks!r}")

    def objective(self, network, forget: Batch, retain: Batch):
        """ℓ(B_r) − strength·ℓ(B_f)."""
        (xf, yf), (xr, yr) = forget, retain
        return F.cross_entropy(network(xr), yr) - float(self.strength) * F.cross_entropy(network(xf), yf)

    @limited_threads()
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        self._check_params()
        check_torch_classifier(model, "LoRA")
        gen = self.generator()
        network = frozen_copy(model.network_)  # every original weight frozen, eval mode throughout
        rank = int(self.rank)
        scale = (rank if self.alpha is None else float(self.alpha)) / rank
        adapted = add_adapters(network, [str(b) for b in self.blocks], rank, scale, seed_of(gen))
        if adapted == 0:
            raise FairbenchError(f"lora: blocks {list(self.blocks)} hold no convolution or linear layer")
        adapters = [p for m in network.modules() if isinstance(m, Adapter) for p in (*m.down.parameters(),
                                                                                      *m.up.parameters())]
        opt = self.optimiser(adapters)
        steps = self.descend_pairs(model, opt, forget, retain, self.epoch_over, gen, 1,
                                   lambda f, r: self.objective(network, f, r))
        for p in adapters:
            p.requires_grad_(False)
        self.report_ = {"steps": float(steps), "adapted_layers": float(adapted),
                        "adapter_parameters": float(sum(p.numel() for p in adapters))}
        return model.with_network(merged(network) if self.merge else network)


register_method(
    MethodEntry(
        name="lora",
        kind="unlearner",
        factory=LoRA,
        task="unlearn",
        version="1",
        description="LoRA unlearning (cobum): rank-r adapters on named blocks trained on CE(D_r) − λ·CE(D_f); the "
                    "original weights frozen",
        papers=("cobum",),
        needs_model=("image_network",),  # adapters go on named blocks of a convolutional body
    )
)
