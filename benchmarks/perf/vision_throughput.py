"""ResNet-18 training throughput at 32×32: fairbench's image training loop next to a bare torch loop (issue 14,
acceptance 4; not a test).

Both loops train torchvision's ResNet-18 (random initialisation, 100 classes) with SGD + momentum and
cross-entropy on the same device, with the same batch size, thread count and precision (bf16 autocast and
channels-last on CUDA, float32 on the CPU):

- ``fairbench``: :func:`fairbench.methods.learners._images.train_classifier`, the loop the ``resnet18`` /
  ``resnet34`` / ``resnet_mini`` learners fit with: a uint8 image cache on the device, per-batch indexing
  of a reshuffled order, random crop + flip and normalisation on the device;
- ``bare``: consecutive slices of an already normalised float tensor on the device, no augmentation.

The ratio fairbench / bare is what the pipeline costs (acceptance: ≥ 0.8). Each loop runs ``--rounds``
times, alternating, after one warm-up batch; the best round of each counts (the least disturbed by other
processes). Defaults keep a CPU run under a minute; on a GPU raise ``--images`` and ``--batch-size``
(e.g. ``--images 65536 --batch-size 2048``). On a shared CPU, ``--threads 1 --clock cpu`` counts process CPU
seconds instead of wall seconds.

Usage: python benchmarks/perf/vision_throughput.py [--device auto|cpu|cuda] [--images N] [--batch-size B]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from fairbench.methods.learners._images import (
    Augmentation, Preparation, Schedule, channel_statistics, resolve_device, train_classifier,
)
from fairbench.methods.learners.resnet import torchvision_resnet

CLASSES = 100


def network(device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torchvision_resnet(18, CLASSES).to(device)
    return net.to(memory_format=torch.channels_last) if device.type == "cuda" else net


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fairbench_round(images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int, clock=time.perf_counter) -> float:
    """Images per second of one epoch of fairbench's loop over ``images``."""
    device = images.device
    net = network(device)
    mean, std = channel_statistics(images)
    prepare = Preparation(tuple(mean.tolist()), tuple(std.tolist()))
    schedule = Schedule(epochs=1, batch_size=batch_size, lr=0.01, weight_decay=5e-4, lr_schedule="constant")
    augment = Augmentation("crop_flip", 4)
    gen = torch.Generator().manual_seed(seed)
    train_classifier(net, images[:batch_size], labels[:batch_size], prepare, schedule, gen, augment)  # warm-up
    synchronise(device)
    start = clock()
    seen = train_classifier(net, images, labels, prepare, schedule, gen, augment)
    synchronise(device)
    return seen / (clock() - start)


def bare_round(images: torch.Tensor, labels: torch.Tensor, batch_size: int, clock=time.perf_counter) -> float:
    """Images per second of a plain loop over consecutive slices of a normalised float tensor."""
    device = images.device
    net = network(device).train()
    x = (images.float() / 255.0 - 0.5) / 0.25
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step(start: int) -> int:
        xb, yb = x[start : start + batch_size], labels[start : start + batch_size]
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = F.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return len(xb)

    step(0)  # warm-up
    synchronise(device)
    start = clock()
    seen = sum(step(i) for i in range(0, len(x), batch_size))
    synchronise(device)
    return seen / (clock() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--images", type=int, default=512, help="images per timed epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--clock", default="wall", choices=("wall", "cpu"),
                        help="cpu: images per second of process CPU time (a CPU run on a shared machine; with "
                             "--threads 1 it approximates the idle machine's wall-clock rate)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.clock == "cpu" and device.type == "cuda":
        parser.error("--clock cpu measures CPU work; a CUDA run is timed by the wall clock")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, args.size, args.size), generator=gen, dtype=torch.uint8).to(device)
    labels = torch.randint(0, CLASSES, (args.images,), generator=gen).to(device)
    ours, bare = [], []
    for r in range(args.rounds):
        ours.append(fairbench_round(images, labels, args.batch_size, seed=r, clock=clock))
        bare.append(bare_round(images, labels, args.batch_size, clock=clock))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    precision = "bf16 autocast, channels-last" if device.type == "cuda" else "float32"
    print(f"ResNet-18 training, {args.size}x{args.size}, batch {args.batch_size}, {args.images} images/round, "
          f"best of {args.rounds} rounds, {name}, {precision}, {args.clock} clock")
    print(f"  fairbench loop (uint8 cache, crop+flip, normalise): {max(ours):10.1f} img/s")
    print(f"  bare torch loop (normalised float tensor):          {max(bare):10.1f} img/s")
    ratio = max(ours) / max(bare)
    print(f"  ratio fairbench / bare: {ratio:.2f} ({'meets' if ratio >= 0.8 else 'below'} the 0.8 target)")


if __name__ == "__main__":
    main()
