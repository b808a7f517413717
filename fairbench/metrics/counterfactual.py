"""Counterfactual-fairness metrics (OB Tables 1-5).

Discrete sensitive attribute (FLAP / OB Tables 2-5): ``cf_metric``, ``aa_fairness``, ``eo_fairness``
all take ``predict(X, s) -> probabilities`` (the whole pipeline f(s, a): preprocessing, then the
predictor), the test features ``X`` and groups ``s``, and maps fitted on the *training* split.
Convention: values are ≥ 0, 0 means fair, lower is better. Each is a difference of group *means*
(the absolute value is taken after averaging over rows), which is how the reference code computed
the printed numbers (ob.md §6.5); ``per_instance=True`` gives the prose's per-row version.

Continuous sensitive variable (Table 1): ``cf_metric_continuous`` takes predictions for the factual
rows and for their counterfactual versions.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from ..core.groupmaps import GroupMeans, GroupQuantileMap
from .registry import Needs, register_metric

Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _spread(per_group: np.ndarray, per_instance: bool) -> float:
    """max over group pairs of |difference|: of the means (default) or per row, then averaged."""
    if per_instance:
        return float(np.mean(per_group.max(axis=0) - per_group.min(axis=0)))
    means = per_group.mean(axis=1)
    return float(means.max() - means.min())


def _constant(groups: np.ndarray, n: int, g: int) -> np.ndarray:
    return np.full(n, g, dtype=groups.dtype)


@register_metric("cf_metric", kind="counterfactual", higher_is_better=False, needs=Needs(("predict", "X", "s", "quantile_map")))
def cf_metric(
    predict: Predict, X: np.ndarray, s: np.ndarray, quantile_map: GroupQuantileMap, per_instance: bool = False
) -> float:
    """CF-metric with marginal-mapping counterfactuals.

    ``CF = max_{g,g'} | (1/n) Σ_i f(g, ã_i^{(g)}) − (1/n) Σ_i f(g', ã_i^{(g')}) |`` where
    ``ã_ij^{(g)} = Q_{g,j}(F̂_{s_i,j}(a_ij))`` maps each feature of row i from its own group to g
    (:class:`~fairbench.core.groupmaps.GroupQuantileMap`, fitted on training data). Sign: ≥ 0, 0 is
    counterfactually fair under this map. Edge cases: one group gives 0 (no pair to compare).
    """
    q = quantile_map.quantiles(X, s)
    groups = quantile_map.groups_
    per_group = np.stack([predict(quantile_map.from_quantiles(q, g), _constant(groups, len(X), g)) for g in groups])
    return _spread(per_group, per_instance)


@register_metric("aa_fairness", kind="counterfactual", higher_is_better=False, needs=Needs(("predict", "X", "s", "group_means")))
def aa_fairness(
    predict: Predict, X: np.ndarray, s: np.ndarray, group_means: GroupMeans, per_instance: bool = False
) -> float:
    """AA fairness (Wang, Sridhar, Blei 2019) with orthogonalisation counterfactuals.

    ``AA = max_{g,g'} | mean_i f(g, ã_i^{(g)}) − mean_i f(g', ã_i^{(g')}) |`` with
    ``ã_i^{(g)} = a_i − Ê[A | S=s_i] + Ê[A | S=g]`` (training group means). Sign: ≥ 0, 0 is fair.
    """
    groups = group_means.groups_
    per_group = np.stack([predict(group_means.shift(X, s, g), _constant(groups, len(X), g)) for g in groups])
    return _spread(per_group, per_instance)


@register_metric("eo_fairness", kind="counterfactual", higher_is_better=False, needs=Needs(("predict_group_only", "X_processed", "groups")))
def eo_fairness(predict: Predict, X: np.ndarray, groups: np.ndarray, per_instance: bool = False) -> float:
    """EO fairness (Wang et al. 2019): switch only the group label, keep the features.

    ``EO = max_{g,g'} | mean_i f(g, a_i) − mean_i f(g', a_i) |``. Sign: ≥ 0; exactly 0 for any
    predictor that ignores s (FTU). ``groups`` are the training groups.
    """
    per_group = np.stack([predict(X, _constant(groups, len(X), g)) for g in groups])
    return _spread(per_group, per_instance)


@register_metric("cf_metric_continuous", kind="counterfactual", higher_is_better=False, needs=Needs(("factual", "counterfactual")))
def cf_metric_continuous(factual: np.ndarray, counterfactual: np.ndarray, cost: str = "absolute") -> float:
    """CF-metric for a continuous sensitive variable (Grari et al.; OB paper D.1).

    ``CF = (1/n) Σ_i (1/R) Σ_r c(f_i, f_{i,r})`` with ``f_i = f(T(x_i, a_i))`` the prediction for
    row i and ``f_{i,r} = f(T(x_i^{a'_r}, a'_r))`` for its R counterfactual values: ``factual`` is
    (n,), ``counterfactual`` (R, n). ``cost``: ``absolute`` ``|u − v|`` (the OB prose, default) or
    ``squared`` ``(u − v)²`` (Grari's code; ob.md §6.5). Sign: ≥ 0, 0 is counterfactually fair.
    Edge cases: no rows or no counterfactual values give NaN with a RuntimeWarning.
    """
    factual = np.asarray(factual, dtype=np.float64).reshape(-1)
    counterfactual = np.asarray(counterfactual, dtype=np.float64)
    if counterfactual.ndim != 2 or counterfactual.shape[1] != factual.shape[0]:
        raise ValueError(f"counterfactual must be (R, n) with n = {factual.shape[0]}, got {counterfactual.shape}")
    if counterfactual.size == 0:
        warnings.warn("cf_metric_continuous: no rows or no counterfactual values", RuntimeWarning, stacklevel=2)
        return float("nan")
    diff = counterfactual - factual[None, :]
    if cost == "absolute":
        return float(np.mean(np.abs(diff)))
    if cost == "squared":
        return float(np.mean(diff**2))
    raise ValueError(f"cost must be 'absolute' or 'squared', got {cost!r}")


# Variants the tables print beside the plain metric, registered under their own names so a task asks
# for them like any other metric.
register_metric("cf_metric_per_instance", kind="counterfactual", higher_is_better=False,
                needs=Needs(("predict", "X", "s", "quantile_map"), options={"per_instance": True}))(cf_metric)
register_metric("eo_fairness_pipeline", kind="counterfactual", higher_is_better=False,
                needs=Needs(("predict", "X", "groups")))(eo_fairness)  # the group switched in the pre-processing too
register_metric("cf_metric_continuous_squared", kind="counterfactual", higher_is_better=False,
                needs=Needs(("factual", "counterfactual"), options={"cost": "squared"}))(cf_metric_continuous)
