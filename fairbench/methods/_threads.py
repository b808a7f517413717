"""The one way methods limit torch's intra-op threads.

Small networks on CPU are latency-bound: intra-op threads only add synchronisation (20x slower per
step on a busy 2-core machine), and the runner parallelises over jobs instead. ``limited_threads()``
is a context manager and, like every ``contextlib.contextmanager``, a decorator (``@limited_threads()``);
it restores the caller's setting.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from ..core.determinism import guard_torch

THREADS = 1


@contextlib.contextmanager
def limited_threads(n: int = THREADS) -> Iterator[None]:
    import torch  # only methods that run torch call this; the tabular core does not need it

    guard_torch()  # torch loaded during a job, after its seeding: the job's seed and deterministic kernels
    before = torch.get_num_threads()
    torch.set_num_threads(min(n, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)
