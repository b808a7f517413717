"""Image classifiers: torchvision's ResNet-18 / ResNet-34 (cfdebias Table 1, 3; cfdebias.md §2.6) and a
small residual network for ``--scale mini`` runs.

All three are torch classifiers in the sense of :mod:`._torch_classifier` (``network_`` = body + linear
head), so every model-agnostic unlearner (Retrain, BT, BS, SCRUB, PUMA, SISA shards, cfdebias) runs on
them unchanged. Inputs are the dataset's uint8 images, ``(n, H, W)`` or ``(n, H, W, C)``; ``tensor(X)``
is the normalised float ``(n, C, H, W)`` the network takes (the space FGSM steps and gradient masks
live in). Training: :func:`._images.train_classifier` on a uint8 cache with on-device augmentation.

- ``resnet18`` / ``resnet34``: torchvision's architectures with the classification layer replaced by a
  ``512 → K`` head. ``pretrained: imagenet`` (the default, the paper's) loads torchvision's
  ``IMAGENET1K_V1`` weights through its weights API; the file in the torch hub cache is checked against
  the SHA-256 prefix in its name, and a missing file without network access is a one-line error that
  says how to obtain it. ``pretrained: none`` starts from a seeded random initialisation (offline).
  Normalisation: ImageNet's channel statistics with pretrained weights, the training images' otherwise;
  grey images are repeated to three channels. Input size: the images' own unless ``image_size`` is given
  (CIFAR-100 at its native 32×32, cfdebias.md §2.6; CUB at 224).
- ``resnet_mini``: a stride-2 3×3 stem and one basic residual block per stage (``widths``, default 16 and
  32 channels, each later stage halving the resolution), global average pooling, a linear head; the
  image's own channels. About 20k parameters: on Fashion-MNIST's 28×28 images it trains about 10x faster
  than ResNet-18 at 32×32 on one CPU thread (about 5,600 vs 540 images per CPU second, measured on the
  shared 2-core machine), which keeps a mini table of several methods × 3 seeds within minutes.

Training recipe (the paper states none; cfdebias.md §2.6 asks to record ours): SGD with momentum 0.9,
weight decay 5e-4, cosine learning rate from ``lr`` (0.01 for the fine-tuned ResNets, 0.05 for the mini
net trained from scratch), batch 128, 10 epochs, random crop (4 pixels of zero padding) and horizontal
flip. Every part is a parameter.

Two choices cobum needs (cobum.md §2.3, §6.5), both defaulting to what the learners did before:

- ``trainable: all | fc``: ``fc`` is a linear probe, only the head learns; the body keeps its initial
  (ImageNet) weights and batch-norm statistics. Retraining clones the parameter, so the oracle trains the same
  parameters as the original.
- ``loss: ce | bce``: ``bce`` gives a binary task one logit z (:class:`OneLogitHead`); the network still
  outputs two class logits, (0, z), so ``predict_proba`` has two columns (1 − σ(z), σ(z)) and cross-entropy
  on them is exactly binary cross-entropy on z: every unlearner runs on it unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...core import settings
from ...core.errors import FairbenchError
from ...core.hashing import sha256_file
from .._checks import check_choice, check_nonnegative, check_positive
from .._random import seed_from, torch_seeded
from .._threads import limited_threads
from ..base import Learner, MethodEntry
from ..registry import register_method
from ._images import (
    AUGMENTATIONS, IMAGENET_MEAN, IMAGENET_STD, SCHEDULES, Augmentation, Preparation, Schedule, channel_statistics,
    image_tensor, resolve_device, train_classifier,
)
from ._torch_classifier import EVAL_BATCH, OPTIMISERS, BodyHead, TorchClassifier, labels, predict_logits

PRETRAINED = ("imagenet", "none")
TRAINABLE = ("all", "fc")
LOSSES = ("ce", "bce")


class OneLogitHead(nn.Linear):
    """A binary head with one logit z, emitted as the class logits (0, z): softmax gives (1 − σ(z), σ(z)) and
    cross-entropy on (0, z) equals binary cross-entropy on z. ``out_features`` is 1 (the weight's rows)."""

    def __init__(self, in_features: int):
        super().__init__(in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = super().forward(x)
        return torch.cat([torch.zeros_like(z), z], dim=1)


class ImageClassifier(TorchClassifier, Learner):
    """The shared part of the image learners: parameters of the pipeline, ``fit``, ``tensor``, ``logits``.

    A subclass builds its untrained network with ``architecture(in_channels, n_classes)`` and may load
    pretrained weights in ``initial_network``; ``in_channels(data_channels)`` is what the network takes."""

    def __init__(self, epochs: int = 10, batch_size: int = 128, lr: float = 0.01, optimizer: str = "sgd",
                 momentum: float = 0.9, weight_decay: float = 5e-4, lr_schedule: str = "cosine",
                 augment: str = "crop_flip", crop_padding: int = 4, image_size: int | None = None,
                 trainable: str = "all", loss: str = "ce", device: str = "auto", random_state: int = 0):
        self._store(locals())

    def _check_params(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMISERS)
        check_choice("trainable", self.trainable, TRAINABLE)
        check_choice("loss", self.loss, LOSSES)
        check_choice("lr_schedule", self.lr_schedule, SCHEDULES)
        check_choice("augment", self.augment, AUGMENTATIONS)
        check_positive(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr)
        check_nonnegative(momentum=self.momentum, weight_decay=self.weight_decay, crop_padding=self.crop_padding)
        if self.image_size is not None:
            check_positive(image_size=self.image_size)
        resolve_device(self.device)

    # -- architecture hooks -------------------------------------------------------------------
    def architecture(self, in_channels: int, n_classes: int) -> BodyHead:
        raise NotImplementedError

    def in_channels(self, data_channels: int) -> int:
        return data_channels

    def build_network(self, in_channels: int, n_classes: int) -> BodyHead:
        """The architecture with the head ``loss`` asks for (``bce``: one logit instead of two)."""
        network = self.architecture(in_channels, n_classes)
        if self.loss == "bce":
            network.head = OneLogitHead(network.head.in_features)
        return network

    def initial_network(self, in_channels: int, n_classes: int, seed: int) -> BodyHead:
        with torch_seeded(seed):
            return self.build_network(in_channels, n_classes)

    def normalisation(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        return channel_statistics(images)

    # -- learner --------------------------------------------------------------------------------
    @limited_threads()
    def fit(self, X: Any, y: Any, s: Any = None) -> "ImageClassifier":
        self._check_params()
        device = resolve_device(self.device)
        images, target = image_tensor(X, device), labels(y).to(device)
        if len(images) == 0 or len(images) != len(target):
            raise FairbenchError("an image learner needs a non-empty image set with one label per image")
        if int(target.min()) < 0:
            raise FairbenchError("labels must be class codes 0..K-1")
        n_classes = max(int(target.max()) + 1, 2)
        if self.loss == "bce" and n_classes != 2:
            raise FairbenchError(f"loss: bce needs binary 0/1 labels, got {n_classes} classes")
        seed = seed_from(self.random_state)  # initialisation, minibatch order, augmentation
        in_channels = self.in_channels(images.shape[1])
        if images.shape[1] not in (1, in_channels):
            raise FairbenchError(f"this network takes grey or {in_channels}-channel images, got {images.shape[1]} channels")
        network = self.initial_network(in_channels, n_classes, seed).to(device)
        if device.type == "cuda":
            network = network.to(memory_format=torch.channels_last)
        mean, std = self.normalisation(images)
        if len(mean) != in_channels:  # grey images for a colour network: one statistic per network channel
            mean, std = np.repeat(mean, in_channels // len(mean)), np.repeat(std, in_channels // len(std))
        self.mean_, self.std_ = mean.astype(np.float32), std.astype(np.float32)
        schedule = Schedule(int(self.epochs), int(self.batch_size), float(self.lr), self.optimizer,
                            float(self.momentum), float(self.weight_decay), self.lr_schedule)
        augment = None if self.augment == "none" else Augmentation(self.augment, int(self.crop_padding))
        train_classifier(network, images, target, self.preparation(), schedule, torch.Generator().manual_seed(seed),
                         augment, head_only=self.trainable == "fc")
        self.network_, self.n_classes_, self.in_channels_ = network.eval(), n_classes, in_channels
        self.device_ = device.type  # where it was trained (provenance: bf16 on CUDA, float32 on the CPU)
        return self

    def preparation(self) -> Preparation:
        size = None if self.image_size is None else int(self.image_size)
        return Preparation(tuple(float(v) for v in self.mean_), tuple(float(v) for v in self.std_), size)

    def network_device(self) -> torch.device:
        """The device the network runs on: the ``device`` parameter's (a restored model comes back on the
        CPU and moves there on first use)."""
        device = resolve_device(self.device)
        if next(self.network_.parameters()).device != device:
            self.network_.to(device)
        return device

    def tensor(self, X: Any) -> torch.Tensor:
        return self.preparation()(image_tensor(X, self.network_device()))

    @limited_threads()
    def logits(self, X: Any) -> torch.Tensor:
        """Class logits (float32, CPU), computed in chunks so that only the uint8 images are held whole."""
        X = np.asarray(X)
        device = self.network_device()
        prepare = self.preparation()
        chunks = [predict_logits(self.network_, prepare(image_tensor(X[i : i + EVAL_BATCH], device))).float().cpu()
                  for i in range(0, len(X), EVAL_BATCH)]
        return torch.cat(chunks) if chunks else torch.zeros((0, int(self.n_classes_)))

    def module_from_state(self, attribute: str, state: dict[str, torch.Tensor]) -> BodyHead:
        """The untrained architecture of a stored ``network_`` (no weights file is read: the stored
        weights replace them)."""
        if attribute != "network_":
            raise FairbenchError(f"a stored image classifier has no module {attribute!r}")
        with torch_seeded(0):
            return self.build_network(int(self.in_channels_), int(self.n_classes_))


# -- the small residual network ------------------------------------------------------------------

class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch normalisation and an identity (or 1×1 projection) shortcut."""

    def __init__(self, n_in: int, n_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(n_in, n_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(n_out)
        self.conv2 = nn.Conv2d(n_out, n_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(n_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or n_in != n_out:
            self.shortcut = nn.Sequential(nn.Conv2d(n_in, n_out, 1, stride, bias=False), nn.BatchNorm2d(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def mini_resnet(in_channels: int, n_classes: int, widths: Sequence[int]) -> BodyHead:
    widths = [int(w) for w in widths]
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]),
                               nn.ReLU()]
    width = widths[0]
    for stage, out in enumerate(widths):
        layers.append(BasicBlock(width, out, 1 if stage == 0 else 2))
        width = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return BodyHead(nn.Sequential(*layers), nn.Linear(width, n_classes))


class MiniResNetClassifier(ImageClassifier):
    def __init__(self, widths: Sequence[int] = (16, 32), lr: float = 0.05, **base: Any):
        super().__init__(lr=lr, **base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        if not self.widths or any(int(w) < 1 for w in self.widths):
            raise FairbenchError(f"widths must list positive channel counts, got {self.widths!r}")

    def architecture(self, in_channels: int, n_classes: int) -> BodyHead:
        return mini_resnet(in_channels, n_classes, self.widths)


# -- torchvision's ResNets -------------------------------------------------------------------------

def _weights(depth: int):
    import torchvision

    return {18: torchvision.models.ResNet18_Weights, 34: torchvision.models.ResNet34_Weights}[depth].IMAGENET1K_V1


def _hub_file(weights: Any) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _check_hash_prefix(path: Path) -> None:
    """torchvision's file names carry the first hex digits of the file's SHA-256 (``resnet18-f37072fd.pth``);
    torch checks them only while downloading, so a cached copy is checked here."""
    prefix = path.stem.rsplit("-", 1)[-1]
    if not sha256_file(path).startswith(prefix):
        raise FairbenchError(f"{path} does not match the SHA-256 prefix {prefix} in its name; delete it and fetch it again")


def imagenet_state(depth: int) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights of ResNet-``depth``, from the torch hub cache (downloaded and
    verified by torchvision where the network may be used)."""
    weights = _weights(depth)
    path = _hub_file(weights)
    fetch = (f"on a machine with internet run `python -c \"import torchvision; torchvision.models.resnet{depth}"
             f"(weights='IMAGENET1K_V1')\"` and copy {path.name} to {path.parent} (or set TORCH_HOME), "
             f"or use pretrained: none")
    if not path.exists():
        if settings.offline():
            raise FairbenchError(f"resnet{depth}: the ImageNet weights {path} are missing and FAIRBENCH_OFFLINE=1 "
                                 f"forbids downloading them; {fetch}")
        try:
            return weights.get_state_dict(progress=False, check_hash=True)
        except Exception as exc:  # any failure to fetch (no network, proxy, disk) reads the same to the user
            raise FairbenchError(f"resnet{depth}: the ImageNet weights could not be downloaded "
                                 f"({type(exc).__name__}); {fetch}") from None
    _check_hash_prefix(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def torchvision_resnet(depth: int, n_classes: int) -> BodyHead:
    import torchvision

    body = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    width = body.fc.in_features
    body.fc = nn.Identity()  # the body ends at the pooled features; the head is ours
    return BodyHead(body, nn.Linear(width, n_classes))


class TorchvisionResNet(ImageClassifier):
    depth: int

    def __init__(self, pretrained: str = "imagenet", **base: Any):
        super().__init__(**base)
        self._store(locals())

    def _check_params(self) -> None:
        super()._check_params()
        check_choice("pretrained", self.pretrained, PRETRAINED)

    def in_channels(self, data_channels: int) -> int:
        return 3  # torchvision's stem; grey images are repeated

    def architecture(self, in_channels: int, n_classes: int) -> BodyHead:
        return torchvision_resnet(self.depth, n_classes)

    def initial_network(self, in_channels: int, n_classes: int, seed: int) -> BodyHead:
        network = super().initial_network(in_channels, n_classes, seed)
        if self.pretrained == "imagenet":
            state = {k: v for k, v in imagenet_state(self.depth).items() if not k.startswith("fc.")}
            network.body.load_state_dict(state, strict=True)
        return network

    def normalisation(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        if self.pretrained == "imagenet":
            return np.asarray(IMAGENET_MEAN, dtype=np.float32), np.asarray(IMAGENET_STD, dtype=np.float32)
        return super().normalisation(images)


class ResNet18Classifier(TorchvisionResNet):
    depth = 18


class ResNet34Classifier(TorchvisionResNet):
    depth = 34


register_method(
    MethodEntry(
        name="resnet18",
        kind="learner",
        factory=ResNet18Classifier,
        task="train_base",
        version="1",
        description="torchvision ResNet-18 image classifier (ImageNet weights by default, new K-class head; SGD, "
                    "cosine lr, crop + flip on the device)",
        papers=("cfdebias", "cobum"),
        model_family="image_network",
    )
)
register_method(
    MethodEntry(
        name="resnet34",
        kind="learner",
        factory=ResNet34Classifier,
        task="train_base",
        version="1",
        description="torchvision ResNet-34 image classifier (ImageNet weights by default, new K-class head; SGD, "
                    "cosine lr, crop + flip on the device)",
        papers=("cfdebias", "cobum"),
        model_family="image_network",
    )
)
register_method(
    MethodEntry(
        name="resnet_mini",
        kind="learner",
        factory=MiniResNetClassifier,
        task="train_base",
        version="1",
        description="small residual image classifier for --scale mini runs (stride-2 stem, one basic block per "
                    "stage, widths 16-32; SGD, cosine lr, crop + flip on the device)",
        papers=("cfdebias", "cobum"),
        model_family="image_network",
    )
)
