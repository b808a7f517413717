"""Randomness from ``random_state`` only (the contract in :mod:`.base`).

``random_state`` is an int, or None for fresh OS entropy; nothing here reads or advances the global
numpy or torch generators.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

SEED_BOUND = 2**31 - 1


def seed_from(random_state: int | None) -> int:
    """The seed a method uses: ``random_state`` itself, or a fresh one from OS entropy for None."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] % SEED_BOUND)
    return int(random_state)


def torch_generator(random_state: int | None, phase: int = 0):
    """A private ``torch.Generator`` for a method's ``phase``-th random phase (0, 1, ...).

    It is seeded with the ``phase``-th integer drawn from ``torch.Generator().manual_seed(random_state)``,
    so a method with two random phases (cfdebias: its VAE in ``prepare``, then ``unlearn``) gets two
    streams from one ``random_state``. These are the integers the committed tables were made with: the
    unlearners then drew them, in this order, from torch's global generator right after
    ``torch.manual_seed(run seed)``."""
    import torch

    seeds = torch.Generator().manual_seed(seed_from(random_state))
    for _ in range(phase):
        seed_of(seeds)
    return torch.Generator().manual_seed(seed_of(seeds))


def seed_of(gen) -> int:
    """A seed drawn from a ``torch.Generator`` (a sub-stream for one component)."""
    import torch

    return int(torch.randint(0, SEED_BOUND, (1,), generator=gen).item())


@contextlib.contextmanager
def torch_seeded(seed: int) -> Iterator[None]:
    """Code inside draws from torch's default generator as if after ``torch.manual_seed(seed)`` (module
    initialisation, code written against the default generator); the caller's state is restored after."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
