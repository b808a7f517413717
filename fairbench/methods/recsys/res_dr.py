"""Res-DR: DR-JL with residual propensity and imputation corrections calibrated on the unbiased
ratings (see ``_residual.py`` for the reconstruction and its caveats)."""

from __future__ import annotations

from ._residual import ResidualDebias
from ..base import MethodEntry
from ..registry import register_method

register_method(
    MethodEntry(
        name="res-dr",
        kind="recommender",
        factory=ResidualDebias,
        task="recommend",
        version="2",
        description="Res-DR (reconstruction): nominal propensity/imputation + calibrated residuals",
        papers=("ultd",),
    )
)
