"""The image pipeline of the image learners (:mod:`.resnet`): a uint8 cache, on-device preparation and
augmentation, and the training loop.

- **Decode once.** A dataset gives images as uint8 arrays, ``(n, H, W)`` (grey) or ``(n, H, W, C)``;
  :func:`image_tensor` turns them into one uint8 ``(n, C, H, W)`` tensor on the device (CIFAR-100's
  50,000 images are 150 MB). Nothing is converted to float until a batch is drawn.
- **Prepare on the device.** :class:`Preparation` maps a uint8 batch to the network's input: grey
  images repeated to three channels for a three-channel network (ImageNet weights), scaled to [0, 1],
  normalised per channel, resized to ``image_size`` where one is given, channels-last on CUDA.
- **Augment on the device.** :class:`Augmentation`: random crop after zero padding and horizontal
  flip (the CIFAR recipe the paper follows), drawn per image from the learner's CPU generator, so a fit
  is a pure function of its data and ``random_state`` on every device.
- **Train.** :func:`train_classifier`: reshuffled minibatches, cross-entropy, SGD with momentum (or
  Adam) and a cosine or constant learning rate; on CUDA under bf16 autocast. On the CPU the loop is
  deterministic (same seed, same weights). ``head_only`` trains the linear head alone (a linear probe):
  the body runs in eval mode without gradients, so its weights and batch-norm statistics stay as loaded.

``--device auto|cpu|cuda`` is the learners' ``device`` parameter (:func:`resolve_device`).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ...core.errors import FairbenchError
from ._torch_classifier import descend, optimiser, smallest_batch

DEVICES = ("auto", "cpu", "cuda")
AUGMENTATIONS = ("crop_flip", "flip", "none")
SCHEDULES = ("cosine", "constant")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STATS_CHUNK = 4096  # images per chunk when summing channel statistics (bounded float memory)


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA where present, else the CPU; ``cuda`` without a GPU is a user error."""
    if name not in DEVICES:
        raise FairbenchError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise FairbenchError("device 'cuda' was asked for but torch sees no CUDA device; use device: auto or cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def image_tensor(X: Any, device: torch.device) -> torch.Tensor:
    """``(n, C, H, W)`` tensor of the images ``X`` (``(n, H, W)`` or ``(n, H, W, C)``, values 0..255),
    kept as uint8 when they are uint8 (the cache), else float32."""
    X = np.asarray(X)
    if X.ndim not in (3, 4) or X.dtype.kind not in "uif":
        raise FairbenchError(f"an image learner needs (n, H, W) or (n, H, W, C) numeric images, got "
                             f"{X.dtype} of shape {X.shape}")
    data = torch.from_numpy(np.ascontiguousarray(X if X.dtype == np.uint8 else X.astype(np.float32)))
    data = data.unsqueeze(1) if X.ndim == 3 else data.permute(0, 3, 1, 2)
    return data.to(device).contiguous()


def channel_statistics(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``images`` on the [0, 1] scale (float64 sums)."""
    total = torch.zeros(images.shape[1], dtype=torch.float64, device=images.device)
    squares = torch.zeros_like(total)
    for start in range(0, len(images), STATS_CHUNK):
        chunk = images[start : start + STATS_CHUNK].to(torch.float64) / 255.0
        total += chunk.sum(dim=(0, 2, 3))
        squares += (chunk * chunk).sum(dim=(0, 2, 3))
    count = len(images) * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-3)  # a constant channel stays finite
    return mean.cpu().numpy().astype(np.float32), std.cpu().numpy().astype(np.float32)


@dataclass(frozen=True)
class Preparation:
    """uint8 (or 0..255 float) images -> the network's normalised float input, on the images' device."""

    mean: Sequence[float]
    std: Sequence[float]
    image_size: int | None = None

    @property
    def channels(self) -> int:
        return len(self.mean)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] != self.channels:
            if images.shape[1] != 1:
                raise FairbenchError(f"the network takes {self.channels}-channel images, got {images.shape[1]} channels")
            images = images.expand(-1, self.channels, -1, -1)  # grey images for a colour network
        shape = (1, self.channels, 1, 1)
        mean = torch.as_tensor(self.mean, dtype=torch.float32, device=images.device).reshape(shape)
        std = torch.as_tensor(self.std, dtype=torch.float32, device=images.device).reshape(shape)
        x = (images.to(torch.float32) / 255.0 - mean) / std
        if self.image_size is not None and tuple(x.shape[2:]) != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


@dataclass(frozen=True)
class Augmentation:
    """Random crop of the original size after ``padding`` zero pixels on every side, and a horizontal
    flip with probability 1/2 (``kind`` ``crop_flip``; ``flip``: the flip only). The offsets and flips
    are drawn on the CPU from ``gen`` and applied on the images' device."""

    kind: str = "crop_flip"
    padding: int = 4

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, _, height, width = images.shape
        if self.kind == "none" or n == 0:
            return images
        if self.kind == "crop_flip" and self.padding > 0:
            p = int(self.padding)
            offsets = torch.randint(0, 2 * p + 1, (2, n), generator=gen).to(images.device)
            padded = F.pad(images, (p, p, p, p))
            rows = (torch.arange(height, device=images.device)[None, :] + offsets[0][:, None])[:, None, :, None]
            cols = (torch.arange(width, device=images.device)[None, :] + offsets[1][:, None])[:, None, None, :]
            batch = torch.arange(n, device=images.device)[:, None, None, None]
            channel = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
            images = padded[batch, channel, rows, cols]
        flip = (torch.rand(n, generator=gen) < 0.5).to(images.device)
        return torch.where(flip[:, None, None, None], images.flip(3), images)


@dataclass(frozen=True)
class Schedule:
    """The optimisation of a fit: ``epochs`` passes in minibatches of ``batch_size``."""

    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_schedule: str = "cosine"

    def lr_at(self, step: int, total: int) -> float:
        if self.lr_schedule == "constant" or total <= 1:
            return self.lr
        return 0.5 * self.lr * (1.0 + math.cos(math.pi * step / total))


@contextlib.contextmanager
def cuda_kernels(device: torch.device) -> Iterator[None]:
    """On CUDA: cuDNN's autotuned kernels, and torch's deterministic-algorithms mode reduced to warnings
    (the jobs switch it on for the CPU's sake; several CUDA backward kernels of a ResNet, e.g. adaptive
    average pooling, have no deterministic version and would raise). Nothing changes on the CPU."""
    if device.type != "cuda":
        yield
        return
    enabled, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark = torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark


def train_classifier(network: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, prepare: Preparation,
                     schedule: Schedule, gen: torch.Generator, augment: Augmentation | None = None,
                     head_only: bool = False) -> int:
    """Fit ``network`` (on the images' device) with cross-entropy on the uint8 ``images`` and their
    ``labels``; batches and augmentation draw from ``gen``. A one-image batch of a network with batch
    normalisation is skipped (batch statistics of one image are undefined for 1x1 feature maps).
    ``head_only``: only ``network.head`` learns (``network`` is a body + head classifier); the body stays in
    eval mode and runs without gradients. Returns the number of images trained on (for throughput)."""
    network.train()
    if head_only:
        network.body.eval()
    with cuda_kernels(images.device):
        seen = _epochs(network, images, labels, prepare, schedule, gen, augment, head_only)
    network.eval()
    return seen


def _epochs(network: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, prepare: Preparation,
            schedule: Schedule, gen: torch.Generator, augment: Augmentation | None, head_only: bool) -> int:
    device, cuda = images.device, images.device.type == "cuda"
    learning = network.head if head_only else network
    opt = optimiser(learning.parameters(), schedule.optimizer, float(schedule.lr), momentum=float(schedule.momentum),
                    weight_decay=float(schedule.weight_decay))
    smallest = 1 if head_only else smallest_batch(network)  # a frozen body keeps its batch-norm statistics
    n, batch_size = len(images), int(schedule.batch_size)
    total = int(schedule.epochs) * math.ceil(n / batch_size)
    step = seen = 0
    for _ in range(int(schedule.epochs)):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            lr = schedule.lr_at(step, total)
            step += 1
            if len(rows) < smallest:
                continue
            for group in opt.param_groups:
                group["lr"] = lr
            rows = rows.to(device)
            batch = images[rows]
            if augment is not None:
                batch = augment(batch, gen)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=cuda):
                loss = F.cross_entropy(_forward(network, prepare(batch), head_only), labels[rows])
            descend(opt, loss)
            seen += len(rows)
    return seen


def _forward(network: torch.nn.Module, x: torch.Tensor, head_only: bool) -> torch.Tensor:
    if not head_only:
        return network(x)
    with torch.no_grad():
        features = network.body(x)
    return network.head(features)
