"""Unlearning metrics: accuracy on the retain (RA), forget (FA) and test (TA) sets, their test-side
class-level counterparts (test rows of the retained / forgotten classes), and the distance to the
retrained oracle: of the parameters, and of the test predictions (disagreement, KL).

All three accuracies are plain accuracy of hard predictions (see
:func:`fairbench.metrics.classification.accuracy`); they are separate registered metrics so that
records and tables name the set explicitly. Empty set -> nan with a RuntimeWarning.
"""

from __future__ import annotations

import numpy as np

from .classification import _undefined, accuracy
from .registry import Needs, register_metric


@register_metric("retain_accuracy", kind="unlearning", higher_is_better=True, needs=Needs(("y", "pred"), split="retain"))
def retain_accuracy(y_retain, y_pred_retain) -> float:
    """RA: accuracy on the retain set D_r (training rows that were *not* deleted).

    mean(y_pred == y) over D_r. Higher is better.
    """
    return accuracy(y_retain, y_pred_retain)


@register_metric("forget_accuracy", kind="unlearning", higher_is_better=None, needs=Needs(("y", "pred"), split="forget"))
def forget_accuracy(y_forget, y_pred_forget) -> float:
    """FA: accuracy on the forget set D_f (the deleted training rows).

    mean(y_pred == y) over D_f. No direction is better in general: lower means more forgetting
    (cobum), and the target is the retrained oracle's FA.
    """
    return accuracy(y_forget, y_pred_forget)


@register_metric("test_accuracy", kind="unlearning", higher_is_better=True, needs=Needs(("y", "pred")))
def test_accuracy(y_test, y_pred_test) -> float:
    """TA: accuracy on the held-out test split. mean(y_pred == y) over the test set."""
    return accuracy(y_test, y_pred_test)


def _class_sets(y_retain, y_forget) -> tuple[np.ndarray, np.ndarray]:
    """(retained classes, forgotten classes) of a deletion: a class is *forgotten* when the forget set
    holds any of its training rows, *retained* when only the retain set does."""
    forgotten = np.unique(np.asarray(y_forget))
    retained = np.setdiff1d(np.unique(np.asarray(y_retain)), forgotten)
    return retained, forgotten


def _accuracy_on_classes(y, y_pred, classes: np.ndarray, what: str, split: str = "test") -> float:
    y, y_pred = np.asarray(y), np.asarray(y_pred)
    if len(classes) == 0:
        return _undefined(f"{what}: the deletion leaves no such class", stacklevel=4)
    rows = np.isin(y, classes)
    if not rows.any():
        return _undefined(f"{what}: the {split} split holds no row of those classes", stacklevel=4)
    return accuracy(y[rows], y_pred[rows])


@register_metric("retain_test_accuracy", kind="unlearning", higher_is_better=True,
                 needs=Needs(("y", "pred", "y:retain", "y:forget")))
def retain_test_accuracy(y_test, y_pred_test, y_retain, y_forget) -> float:
    """Test-side RA: accuracy on the test rows of the retained classes (cfdebias Table 1, cfdebias.md 6.10).

    Retained classes R = labels with training rows in D_r and none in D_f; the value is
    mean(y_pred == y) over the test rows whose label is in R. Higher is better. Under class deletion R
    is every class but the deleted ones (Bad Teacher's Dr accuracy); a deletion that touches every class
    (uniform deletion) leaves R empty: nan with a RuntimeWarning, as when no test row has a class in R.
    """
    retained, _ = _class_sets(y_retain, y_forget)
    return _accuracy_on_classes(y_test, y_pred_test, retained, "retain_test_accuracy")


@register_metric("forget_test_accuracy", kind="unlearning", higher_is_better=None,
                 needs=Needs(("y", "pred", "y:retain", "y:forget")))
def forget_test_accuracy(y_test, y_pred_test, y_retain, y_forget) -> float:
    """Test-side FA: accuracy on the test rows of the forgotten classes (cfdebias Table 1, cfdebias.md 6.10).

    Forgotten classes F = labels with any training row in D_f; the value is mean(y_pred == y) over the
    test rows whose label is in F. No direction is better in general: after class deletion the
    retrained oracle's value is about 0 and lower means more forgetting; under selective deletion of
    one class (cfdebias Fig. 6) F is that class and this is its test accuracy. Empty D_f, or no test
    row with a label in F: nan with a RuntimeWarning.
    """
    _, forgotten = _class_sets(y_retain, y_forget)
    return _accuracy_on_classes(y_test, y_pred_test, forgotten, "forget_test_accuracy")


@register_metric("retained_class_accuracy", kind="unlearning", higher_is_better=True,
                 needs=Needs(("y", "pred", "y:forget"), split="retain"))
def retained_class_accuracy(y_retain, y_pred_retain, y_forget) -> float:
    """Accuracy on the training rows that stay in D_r but belong to a forgotten class (cfdebias Fig. 6 text).

    Forgotten classes F = labels with any training row in D_f; the value is mean(y_pred == y) over the
    D_r rows whose label is in F, i.e. the remaining images of a partially deleted class ("at 60 %
    removal SCRUB misclassifies 72 % of the remaining Rabbit images": 1 minus this value). Higher is
    better: deleting part of a class should not make the model forget the rest of it. Under full class
    deletion no such row remains, and an empty D_f names no class: nan with a RuntimeWarning.
    """
    _, forgotten = _class_sets(y_retain, y_forget)
    return _accuracy_on_classes(y_retain, y_pred_retain, forgotten, "retained_class_accuracy", split="retain")


@register_metric("l2_to_retrain", kind="unlearning", higher_is_better=False, needs=Needs(("theta", "theta_reference")))
def l2_to_retrain(theta, theta_retrain) -> float:
    """||theta - theta_retrain||_2 between flattened parameter vectors (fairunlearn ``l2_norm``).

    0 means the unlearned model equals the retrained oracle. Shapes must match (ValueError).
    Edge case: empty vectors -> nan with a RuntimeWarning.
    """
    a = np.asarray(theta, dtype=np.float64).ravel()
    b = np.asarray(theta_retrain, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"parameter vectors differ in size: {a.size} vs {b.size}")
    if a.size == 0:
        return _undefined("l2 distance of empty parameter vectors is undefined")
    return float(np.linalg.norm(a - b))


@register_metric("disagreement_to_retrain", kind="unlearning", higher_is_better=False,
                 needs=Needs(("pred", "pred_reference")))
def disagreement_to_retrain(y_pred, y_pred_reference) -> float:
    """Share of test rows on which the unlearned model's hard prediction differs from the retrained
    oracle's: mean(y_pred != y_pred_reference). 0 means the two models agree everywhere; defined for any
    pair of classifiers, where a parameter distance needs comparable parameter vectors.
    Edge case: no rows -> nan with a RuntimeWarning.
    """
    a, b = np.asarray(y_pred).ravel(), np.asarray(y_pred_reference).ravel()
    if a.size == 0:
        return _undefined("prediction disagreement on no rows is undefined")
    return float(np.mean(a != b))


KL_FLOOR = 1e-12  # probabilities are clipped here so that a confident 0 does not make the divergence infinite


@register_metric("kl_to_retrain", kind="unlearning", higher_is_better=False,
                 needs=Needs(("proba", "proba_reference")))
def kl_to_retrain(proba, proba_reference) -> float:
    """Mean over test rows of KL(p_reference ‖ p) between the retrained oracle's and the unlearned
    model's predicted class distributions (nats): 0 when they predict alike; probabilities are clipped
    at 1e-12 and renormalised. Edge case: no rows -> nan with a RuntimeWarning.
    """
    p = np.clip(np.asarray(proba_reference, dtype=np.float64), KL_FLOOR, None)
    q = np.clip(np.asarray(proba, dtype=np.float64), KL_FLOOR, None)
    if p.shape != q.shape:
        raise ValueError(f"probability arrays differ in shape: {q.shape} vs {p.shape}")
    if p.shape[0] == 0:
        return _undefined("prediction KL on no rows is undefined")
    p, q = p / p.sum(axis=1, keepdims=True), q / q.sum(axis=1, keepdims=True)
    return float(np.mean(np.sum(p * np.log(p / q), axis=1)))


def unlearning_accuracies(y_forget, pred_forget, y_retain, pred_retain, y_test, pred_test) -> dict[str, float]:
    """Helper: ``{"retain_accuracy", "forget_accuracy", "test_accuracy"}`` in one call."""
    return {
        "retain_accuracy": retain_accuracy(y_retain, pred_retain),
        "forget_accuracy": forget_accuracy(y_forget, pred_forget),
        "test_accuracy": test_accuracy(y_test, pred_test),
    }


@register_metric("time_s", kind="efficiency", higher_is_better=False,
                 needs=Needs(("unlearn_seconds", "train_seconds", "is_original")))
def time_s(unlearn_seconds, train_seconds, is_original) -> float:
    """cobum "Time (s)": wall-clock seconds spent producing the evaluated model.

    The unlearning call's seconds, except for a run whose evaluated model *is* the original (cobum's
    Baseline row, method ``ori``): its cost is the original training, ``train_seconds``. Hardware-dependent;
    compare only within one machine. Edge case: a missing time -> nan with a RuntimeWarning.
    """
    seconds = float(train_seconds if is_original else unlearn_seconds)
    if not np.isfinite(seconds):
        return _undefined("time_s: the run recorded no such time")
    return seconds
