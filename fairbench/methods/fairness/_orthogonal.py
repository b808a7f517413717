"""Shared algebra of OB and SOB (ob.md §1.3–1.4, §6.9): the sensitive design and its projector.

The sensitive design is ``[1, enc(s)]``, the intercept as in Aliverti et al.'s ``OG.R``. Encodings:

- ``numeric``: the values of ``s`` as numeric columns. For a continuous (multivariate) ``A`` this is
  ``A`` itself; for a discrete ``s`` it is the integer group code as *one* numeric column, which is
  what reproduces the printed OB numbers on COMPAS (ACC and CF-metric of Table 5 to 4 decimals;
  one-hot indicators miss them by ~0.005 — see ``benchmarks/ob/table5.yaml``).
- ``onehot``: one indicator per training group (the FLAP-style reading of the prose).

``Projector(A).residual(Z)`` is ``(I − P_A) Z`` through an orthonormal basis of ``span(A)``, so a
rank-deficient design (a counterfactual matrix whose rows all share one group) is handled exactly.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_choice
from ...core.errors import FairbenchError

ENCODINGS = ("numeric", "onehot")
TRANSFORMS = ("transductive", "inductive")


def check_options(transform: str, encoding: str) -> None:
    check_choice("transform", transform, TRANSFORMS)
    check_choice("encoding", encoding, ENCODINGS)


def sensitive_design(s: np.ndarray, encoding: str, groups: np.ndarray | None) -> np.ndarray:
    """``[1, enc(s)]`` (n × (1 + m)); ``groups`` are the training groups for ``onehot``."""
    s = np.asarray(s)
    if encoding == "onehot":
        if s.ndim != 1:
            raise FairbenchError("encoding 'onehot' needs a discrete (1-D) sensitive attribute")
        columns = (s[:, None] == groups[None, :]).astype(np.float64)
    else:
        columns = s.astype(np.float64).reshape(len(s), -1)
    return np.column_stack([np.ones(len(s)), columns])


class Projector:
    """Orthogonal projection onto ``span(A)`` and its complement, via a rank-revealing SVD of ``A``."""

    def __init__(self, A: np.ndarray):
        left, sv, _ = np.linalg.svd(A, full_matrices=False)
        rank = int(np.sum(sv > sv.max() * max(A.shape) * np.finfo(float).eps)) if sv.size else 0
        self.basis = left[:, :rank]

    def residual(self, Z: np.ndarray) -> np.ndarray:
        return Z - self.basis @ (self.basis.T @ Z)

    def with_column(self, v: np.ndarray) -> None:
        """Add a unit vector already orthogonal to the basis (SOB's deflation by earlier scores)."""
        self.basis = np.column_stack([self.basis, v])


def check_rank(k: int | None, X: np.ndarray) -> int:
    limit = min(X.shape)
    k = X.shape[1] if k is None else int(k)
    if not 1 <= k <= limit:
        raise FairbenchError(f"rank k must be in 1..{limit} for a {X.shape[0]} x {X.shape[1]} matrix, got {k}")
    return k
