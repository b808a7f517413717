"""Small, version-independent preprocessing helpers shared by the loaders.

Everything here is plain numpy so that results do not depend on the installed scikit-learn
version (scikit-learn 1.5 changed the sign convention of PCA, which matters for the FLAP
counterfactual metrics; see ``shared/papers/ob.md`` §6.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import FairbenchError


@dataclass(frozen=True)
class LegacyPCA:
    """A fitted full PCA: ``transform(X) = (X - mean) @ components.T``."""

    mean: np.ndarray  # (p,)
    components: np.ndarray  # (k, p), rows are principal axes
    explained_variance: np.ndarray  # (k,), ddof = 1 as in scikit-learn

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean) @ self.components.T


def fit_pca_legacy_sign(X_fit: np.ndarray, n_components: int | None = None) -> LegacyPCA:
    """Full-SVD PCA with the sign rule of scikit-learn < 1.5 (``svd_flip(u_based_decision=True)``).

    The data are centred (not scaled); ``U, S, Vt = svd(X - mean)``; for every component ``j`` the
    entry of largest absolute value in column ``j`` of ``U`` (the scores) is made positive, and row
    ``j`` of ``Vt`` gets the same sign. ``n_components=None`` keeps all ``min(n, p)`` components.
    """
    X = np.asarray(X_fit, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise FairbenchError(f"PCA needs a 2-D array with at least 2 rows, got shape {X.shape}")
    mean = X.mean(axis=0)
    U, S, Vt = np.linalg.svd(X - mean, full_matrices=False)
    max_abs_rows = np.argmax(np.abs(U), axis=0)
    signs = np.sign(U[max_abs_rows, np.arange(U.shape[1])])
    signs[signs == 0] = 1.0
    Vt = Vt * signs[:, None]
    k = Vt.shape[0] if n_components is None else int(n_components)
    if not 1 <= k <= Vt.shape[0]:
        raise FairbenchError(f"n_components must be in 1..{Vt.shape[0]}, got {n_components}")
    variance = S**2 / (X.shape[0] - 1)
    return LegacyPCA(mean=mean, components=Vt[:k].copy(), explained_variance=variance[:k].copy())


def pca_legacy_sign(
    X_fit: np.ndarray, *X_apply: np.ndarray, n_components: int | None = None
) -> tuple[np.ndarray, ...]:
    """Fit :func:`fit_pca_legacy_sign` on ``X_fit``; return the scores of ``X_fit`` and of each ``X_apply``.

    ``train_pc, test_pc = pca_legacy_sign(train, test)`` equals scikit-learn < 1.5
    ``PCA(n_components).fit_transform(train)`` / ``.transform(test)`` with the full SVD solver.
    """
    pca = fit_pca_legacy_sign(X_fit, n_components)
    return tuple(pca.transform(X) for X in (X_fit, *X_apply))


def standardize(X_fit: np.ndarray, *X_apply: np.ndarray) -> tuple[np.ndarray, ...]:
    """StandardScaler semantics (population std, ddof = 0; a constant column keeps scale 1)."""
    X = np.asarray(X_fit, dtype=np.float64)
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std == 0] = 1.0
    return tuple((np.asarray(A, dtype=np.float64) - mean) / std for A in (X, *X_apply))


def minmax(X_fit: np.ndarray, *X_apply: np.ndarray, clip: bool = True) -> tuple[np.ndarray, ...]:
    """Scale to [0, 1] with the fit rows' min and max; other arrays are clipped to [0, 1] if ``clip``."""
    X = np.asarray(X_fit, dtype=np.float64)
    lo = X.min(axis=0)
    span = X.max(axis=0) - lo
    span[span == 0] = 1.0
    out = [(X - lo) / span]
    for A in X_apply:
        scaled = (np.asarray(A, dtype=np.float64) - lo) / span
        out.append(np.clip(scaled, 0.0, 1.0) if clip else scaled)
    return tuple(out)


def label_codes(train_values, *other_values) -> tuple[list, tuple[np.ndarray, ...]]:
    """sklearn ``LabelEncoder`` semantics: sorted unique training values -> 0..k-1.

    Values of the other arrays that were not seen in training raise FairbenchError (as LabelEncoder does).
    """
    classes = np.unique(np.asarray(train_values))
    codes = []
    for values in (train_values, *other_values):
        values = np.asarray(values)
        idx = np.searchsorted(classes, values)
        idx_clipped = np.clip(idx, 0, len(classes) - 1)
        if not np.all(classes[idx_clipped] == values):
            unseen = sorted(set(values[classes[idx_clipped] != values].tolist()))[:5]
            raise FairbenchError(f"labels not seen in the fitting rows: {unseen}")
        codes.append(idx.astype(np.int64))
    return classes.tolist(), tuple(codes)


def one_hot(train_values, *other_values, prefix: str = "") -> tuple[list[str], tuple[np.ndarray, ...]]:
    """One-hot columns for the sorted categories seen in training; unseen values give all-zero rows."""
    categories = sorted(set(np.asarray(train_values).tolist()))
    names = [f"{prefix}{c}" for c in categories]
    out = []
    for values in (train_values, *other_values):
        values = np.asarray(values)
        out.append(np.stack([(values == c) for c in categories], axis=1).astype(np.float64))
    return names, tuple(out)


def split_indices(
    n: int, test_size: float, seed: int, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (optionally stratified) train/test row indices, each sorted ascending.

    Uses scikit-learn's ``train_test_split`` (``random_state=seed``, ``shuffle=True``).
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise FairbenchError(f"test_size must be in (0, 1), got {test_size}")
    rows = np.arange(n)
    train, test = train_test_split(rows, test_size=test_size, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(test)


def check_params(name: str, params: dict, allowed: dict) -> dict:
    """Merge ``params`` into the defaults ``allowed``; unknown names raise FairbenchError."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise FairbenchError(
            f"unknown parameter(s) {', '.join(unknown)} for dataset '{name}'; known: {', '.join(sorted(allowed)) or '(none)'}"
        )
    merged = dict(allowed)
    merged.update(params)
    return merged
