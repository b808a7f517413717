"""Res-DR: DR-JL with residual propensity and imputation corrections calibrated on the unbiased
ratings (see ``_residual.py`` for the reconstruction and its caveats)."""

from __future__ import annotations

from ._residual import entry
from ..registry import register_method

register_method(entry(
    "res-dr", "dr", "Res-DR (reconstruction): nominal propensity/imputation + calibrated residuals",
    {"emb_dim": 64, "lr": 0.01, "batch_size": 128, "weight_decay": 0.0001, "bias": True, "loss": "bce", "beta": 0.1},
))
