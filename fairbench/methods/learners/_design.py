"""Design matrices shared by the group-aware predictors of the counterfactual-fairness papers."""

from __future__ import annotations

import numpy as np


def with_intercept(X: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(X)), X])


def with_group_indicators(X: np.ndarray, s: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``[one-hot(s), X]`` with one column per training group; the indicators act as the intercept."""
    onehot = (np.asarray(s)[:, None] == groups[None, :]).astype(np.float64)
    return np.column_stack([onehot, X])
