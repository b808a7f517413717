"""Classification and regression metrics: accuracy, expected accuracy, ROC AUC, MSE, balanced accuracy.

Inputs are 1-D numpy arrays (lists are converted). Lengths must match (``ValueError`` otherwise).
Where a value is undefined (empty input, one class only for AUC) the function returns ``nan`` and
emits a ``RuntimeWarning``; it never returns a silent 0.

The small validation helpers at the top are shared by the other metric modules.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.stats import rankdata

from .registry import Needs, register_metric

# --------------------------------------------------------------------------------------------------
# shared helpers (used by fairness, unlearning, mia, ranking)


def _undefined(reason: str, stacklevel: int = 3) -> float:
    """Warn with ``RuntimeWarning`` that a metric is undefined and return ``nan``."""
    warnings.warn(reason, RuntimeWarning, stacklevel=stacklevel)
    return float("nan")


def _as_1d(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    return a


def _check_1d(**arrays: Any) -> list[np.ndarray]:
    """Convert keyword arrays to 1-D numpy arrays and check that their lengths agree."""
    out = [_as_1d(v, k) for k, v in arrays.items()]
    lengths = {k: len(a) for k, a in zip(arrays, out)}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inconsistent lengths: {lengths}")
    return out


def _check_binary(a: np.ndarray, name: str) -> np.ndarray:
    """Return ``a`` as int64 after checking that its values are in {0, 1}."""
    if a.dtype == bool:
        return a.astype(np.int64)
    if a.size and not np.all(np.isin(a, (0, 1))):
        bad = np.unique(a[~np.isin(a, (0, 1))])[:5]
        raise ValueError(f"{name} must be binary 0/1, found values such as {bad.tolist()}")
    return a.astype(np.int64)


def _check_finite(a: np.ndarray, name: str) -> np.ndarray:
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


# --------------------------------------------------------------------------------------------------
# metrics


@register_metric("accuracy", kind="classification", higher_is_better=True, needs=Needs(("y", "pred")))
def accuracy(y_true, y_pred) -> float:
    """Share of correct hard predictions: mean(y_pred == y_true).

    ``y_pred`` must hold hard labels (the caller thresholds probabilities, e.g. at 0.5, or takes
    the argmax); any label type that compares with ``==`` works (binary or multiclass).
    Edge case: empty input -> nan with a RuntimeWarning.
    """
    y_true, y_pred = _check_1d(y_true=y_true, y_pred=y_pred)
    if len(y_true) == 0:
        return _undefined("accuracy of an empty set is undefined")
    return float(np.mean(y_true == y_pred))


@register_metric("expected_accuracy", kind="classification", higher_is_better=True, needs=Needs(("y", "score")))
def expected_accuracy(y_true, p) -> float:
    """Expected accuracy of the randomised decision Y_hat ~ Bernoulli(p) (FLAP / ob.md section 4.1).

    Formula: (1/n) * sum_i [ p_i * y_i + (1 - p_i) * (1 - y_i) ], with ``p`` the predicted
    probability of class 1 and ``y`` binary 0/1. It is never above the 0.5-threshold accuracy of a
    calibrated model's hard prediction in expectation, and lower for uncertain models.
    Edge cases: ``p`` outside [0, 1] -> ValueError; empty input -> nan with a RuntimeWarning.
    """
    y_true, p = _check_1d(y_true=y_true, p=p)
    y_true = _check_binary(y_true, "y_true")
    p = _check_finite(p, "p")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p must hold probabilities in [0, 1]")
    if len(y_true) == 0:
        return _undefined("expected accuracy of an empty set is undefined")
    return float(np.mean(p * y_true + (1.0 - p) * (1 - y_true)))


def _mann_whitney_auc(y_true: np.ndarray, score: np.ndarray, what: str) -> float:
    y_true = _check_binary(y_true, "y_true")
    score = _check_finite(score, "score")
    n_pos = int(y_true.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return _undefined(f"{what} is undefined when y_true holds only one class", stacklevel=4)
    ranks = rankdata(score)  # average ranks for ties (ties count 1/2)
    u = ranks[y_true == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


@register_metric("roc_auc", kind="classification", higher_is_better=True, needs=Needs(("y_rank", "score")))
def roc_auc(y_true, score) -> float:
    """Area under the ROC curve of ``score`` for binary ``y_true`` (= sklearn ``roc_auc_score``).

    Formula (Mann-Whitney): AUC = P(score_pos > score_neg) + 1/2 * P(score_pos == score_neg),
    computed from average ranks. 0.5 is chance, 1 is perfect ordering.
    Edge case: y_true with a single class (or empty) -> nan with a RuntimeWarning.
    """
    y_true, score = _check_1d(y_true=y_true, score=score)
    return _mann_whitney_auc(y_true, score, "ROC AUC")


@register_metric("mse", kind="regression", higher_is_better=False, needs=Needs(("y", "pred")))
def mse(y_true, y_pred) -> float:
    """Mean squared error: (1/n) * sum_i (y_pred_i - y_true_i)^2.

    Edge case: empty input -> nan with a RuntimeWarning.
    """
    y_true, y_pred = _check_1d(y_true=y_true, y_pred=y_pred)
    if len(y_true) == 0:
        return _undefined("MSE of an empty set is undefined")
    d = _check_finite(y_pred, "y_pred") - _check_finite(y_true, "y_true")
    return float(np.mean(d * d))


@register_metric("balanced_accuracy", kind="classification", higher_is_better=True, needs=Needs(("y", "pred")))
def balanced_accuracy(y_true, y_pred) -> float:
    """Mean per-class recall over the classes present in ``y_true``; binary: 1/2 * (TPR + TNR).

    Same as sklearn ``balanced_accuracy_score`` (and AIF360's ``balanced_accuracy`` for binary
    labels with both classes present). Hard predictions.
    Edge cases: empty input -> nan with a RuntimeWarning; if ``y_true`` holds one class only, the
    value is that class's recall, with a RuntimeWarning (the other class's recall is undefined).
    """
    y_true, y_pred = _check_1d(y_true=y_true, y_pred=y_pred)
    if len(y_true) == 0:
        return _undefined("balanced accuracy of an empty set is undefined")
    classes, inv = np.unique(y_true, return_inverse=True)
    if len(classes) < 2:
        warnings.warn(
            "balanced accuracy: y_true holds one class only; returning that class's recall",
            RuntimeWarning,
            stacklevel=2,
        )
    correct = (y_true == y_pred).astype(np.float64)
    recall = np.bincount(inv, weights=correct) / np.bincount(inv)
    return float(recall.mean())
