"""Res-IPS: IPS with a residual propensity correction calibrated on the unbiased ratings (see
``_residual.py`` for the reconstruction and its caveats)."""

from __future__ import annotations

from functools import partial

from ._residual import ResidualDebias
from .base import MethodEntry
from .registry import register_method

register_method(
    MethodEntry(
        name="res-ips",
        kind="recommender",
        factory=partial(ResidualDebias, estimator="ips"),
        task="recommend",
        version="1",
        description="Res-IPS (reconstruction): nominal propensity + residual calibrated on unbiased data, multi-task",
        papers=("ultd",),
        defaults={"emb_dim": 16, "lr": 0.01, "batch_size": 128, "weight_decay": 1e-3},
    )
)
