"""Res-IPS: IPS with a residual propensity correction calibrated on the unbiased ratings (see
``_residual.py`` for the reconstruction and its caveats)."""

from __future__ import annotations

from ._residual import ResidualDebias
from ..base import MethodEntry
from ..registry import register_method


class ResIPS(ResidualDebias):
    def __init__(self, estimator: str = "ips", batch_size: int = 256, **base):
        super().__init__(estimator=estimator, batch_size=batch_size, **base)


register_method(
    MethodEntry(
        name="res-ips",
        kind="recommender",
        factory=ResIPS,
        task="recommend",
        version="2",
        description="Res-IPS (reconstruction): nominal propensity + residual calibrated on unbiased data",
        papers=("ultd",),
    )
)
