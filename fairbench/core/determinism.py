"""Seeding: same seed, same numbers."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and (if imported) torch, with torch's deterministic algorithms on CPU.

    Returns a fresh ``numpy.random.Generator`` for code that takes an explicit generator.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        import torch
    except ImportError:  # torch is a dependency, but the tabular core does not need it
        pass
    else:
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=False)
    return np.random.default_rng(seed)
