"""Per-group feature maps used both by preprocessors (FLAP) and by counterfactual metrics.

They are fitted on training data and computed from per-group sorted columns and group means,
so memory is O(n·p) and nothing pairwise is ever formed.
"""

from __future__ import annotations

import numpy as np


class GroupMeans:
    """Training means of each feature within each group of a discrete attribute."""

    def fit(self, X: np.ndarray, s: np.ndarray) -> "GroupMeans":
        self.groups_ = np.unique(s)
        self.means_ = np.stack([X[s == g].mean(axis=0) for g in self.groups_])
        self.overall_ = X.mean(axis=0)
        self.weights_ = np.array([(s == g).mean() for g in self.groups_])
        return self

    def of(self, s: np.ndarray) -> np.ndarray:
        """Row-wise group means for group codes ``s`` (shape of X)."""
        return self.means_[np.searchsorted(self.groups_, s)]

    def shift(self, X: np.ndarray, s_from: np.ndarray, g_to: int) -> np.ndarray:
        """Orthogonalisation counterfactual: x − Ê[X | S=s] + Ê[X | S=g]."""
        return X - self.of(s_from) + self.means_[np.searchsorted(self.groups_, g_to)]


class GroupQuantileMap:
    """Marginal (per-feature) quantile mapping between groups, FLAP's convention.

    ``F̂_{s,j}(x) = #{training values of feature j in group s ≤ x} / n_s`` (right-continuous ECDF);
    ``Q_{g,j}(q) = x_{g,j}^{(⌊(n_g − 1)·q⌋)}``, the training order statistic (0-based, floor index).
    A value is mapped from group s to group g as ``Q_{g,j}(F̂_{s,j}(x))``.
    """

    def fit(self, X: np.ndarray, s: np.ndarray) -> "GroupQuantileMap":
        self.groups_ = np.unique(s)
        self.sorted_ = [np.sort(X[s == g], axis=0) for g in self.groups_]
        self.weights_ = np.array([(s == g).mean() for g in self.groups_])
        return self

    def quantiles(self, X: np.ndarray, s_from: np.ndarray) -> np.ndarray:
        """Ranks ``F̂_{s_i,j}(x_ij)`` of each entry within its own group's training column."""
        q = np.empty_like(X, dtype=np.float64)
        for k, g in enumerate(self.groups_):
            rows = s_from == g
            if not rows.any():
                continue
            column_sorted = self.sorted_[k]
            for j in range(X.shape[1]):
                q[rows, j] = np.searchsorted(column_sorted[:, j], X[rows, j], side="right")
            q[rows] /= column_sorted.shape[0]
        unknown = ~np.isin(s_from, self.groups_)
        if unknown.any():
            raise ValueError(f"groups not seen in training: {sorted(set(np.asarray(s_from)[unknown].tolist()))}")
        return q

    def from_quantiles(self, q: np.ndarray, g_to: int) -> np.ndarray:
        column_sorted = self.sorted_[int(np.searchsorted(self.groups_, g_to))]
        n_g = column_sorted.shape[0]
        idx = np.floor((n_g - 1) * q).astype(np.int64)
        return np.take_along_axis(column_sorted, idx, axis=0)

    def map(self, X: np.ndarray, s_from: np.ndarray, g_to: int) -> np.ndarray:
        return self.from_quantiles(self.quantiles(X, s_from), g_to)
