"""EO: Wang, Sridhar & Blei's (2019) equal-opportunity-fair predictor, ``f_EO(a) = Σ_g P̂(g)·f_ML(g, a)``.

The full model's group input is averaged out with the training group frequencies, so switching
``s`` never changes a prediction (EO fairness is exactly 0).
"""

from __future__ import annotations

from ._fair_predictors import AveragedModel
from ..base import MethodEntry
from ..registry import register_method

register_method(
    MethodEntry(
        name="eo",
        kind="predictor",
        factory=AveragedModel,
        task="cf_discrete",
        version="1",
        description="EO predictor (Wang et al. 2019): full logistic model averaged over training group frequencies",
        papers=("ob",),
    )
)
