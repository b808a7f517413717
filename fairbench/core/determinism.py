"""Determinism guards: seeded global generators, deterministic torch kernels, limited threads.

The seeds themselves follow one rule (:mod:`fairbench.core.seeding`); this module only guards what
the rule cannot reach (third-party code drawing from global generators) and what makes float
results depend on the machine's parallelism (thread counts).
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from typing import Iterator

import numpy as np


_unseeded_torch: int | None = None  # the running job's seed, while torch is not loaded (see guard_torch)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch, with torch's deterministic algorithms (strict on CPU, warning on CUDA).

    Torch is seeded here only if it is loaded: a job that runs no torch method does not import it (about
    1 s of CPU per process). Where it is loaded later in the job, :func:`guard_torch` seeds it then, with
    this seed, before any torch code of the job ran (which is what seeding it here would have done).
    Returns a fresh ``numpy.random.Generator`` for code that takes an explicit generator.
    """
    global _unseeded_torch
    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    _unseeded_torch = seed
    guard_torch()
    return np.random.default_rng(seed)


def guard_torch() -> None:
    """Give torch the running job's seed and deterministic kernels if torch is loaded and has not had
    them since the job's :func:`seed_everything`. The runner loads a job's methods before seeding;
    the methods' torch entry point (:func:`fairbench.methods._threads.limited_threads`) calls this too,
    for torch loaded some other way during a job. Outside a job (no seed given) it does nothing."""
    global _unseeded_torch
    torch = sys.modules.get("torch")
    if _unseeded_torch is None or torch is None:
        return
    torch.manual_seed(_unseeded_torch)
    _deterministic_kernels(torch)
    _unseeded_torch = None


def _deterministic_kernels(torch) -> None:
    """``torch.use_deterministic_algorithms(True)``'s switch for the kernels, without its other effect:
    importing the torch compiler (inductor and dynamo, about 1 s of CPU in every process that runs a
    job) to set a flag only compiled code reads; nothing here compiles. The public call where the
    compiler is loaded already, or where torch lacks the switch."""
    # On CUDA some kernels the ResNets need (adaptive average pooling's backward) have no deterministic
    # version and would raise: there the switch warns instead, and GPU runs are reproducible up to those
    # kernels' float reordering; CPU runs stay strict.
    warn_only = bool(torch.cuda.is_available())
    if "torch._inductor.config" not in sys.modules and hasattr(torch._C, "_set_deterministic_algorithms"):
        torch._C._set_deterministic_algorithms(True, warn_only=warn_only)
    else:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)


def _set_threads(count: int | None) -> int | None:
    """Set torch's intra-op thread count if torch is loaded (one loaded later reads ``OMP_NUM_THREADS``
    in a worker, and the methods limit their own torch work: :mod:`fairbench.methods._threads`);
    returns the previous count."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    return previous


@contextlib.contextmanager
def limited_threads(count: int = 1) -> Iterator[None]:
    """Inside the block, torch and the BLAS/OpenMP pools (threadpoolctl) use at most ``count`` threads;
    the caller's settings come back afterwards. The runner runs every job inside it, so a job's
    floating-point sums do not depend on the executor or on the machine's core count."""
    from threadpoolctl import threadpool_limits

    previous = _set_threads(count)
    try:
        with threadpool_limits(limits=count):
            yield
    finally:
        _set_threads(previous)


def limit_worker_threads(count: int = 1) -> None:
    """For a worker process of a pool: at most ``count`` BLAS/OpenMP and torch threads for the rest of
    its life, so N workers use N cores instead of N × cores contending ones."""
    from threadpoolctl import threadpool_limits

    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(count)  # for libraries loaded after this point
    threadpool_limits(limits=count)  # for those already loaded (not used as a context: it stays)
    _set_threads(count)
