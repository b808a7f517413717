"""retain_test_accuracy / forget_test_accuracy: test rows of the retained / forgotten classes (cfdebias 6.10);
retained_class_accuracy: the D_r rows of a partly deleted class (cfdebias Fig. 6 text)."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.datasets.base import Split
from fairbench.metrics import METRICS
from fairbench.runner.tasks.evaluation import Inputs, evaluate

retain_test_accuracy = METRICS.get("retain_test_accuracy").fn
forget_test_accuracy = METRICS.get("forget_test_accuracy").fn
retained_class_accuracy = METRICS.get("retained_class_accuracy").fn

Y_TEST = np.array([0, 0, 1, 1, 2, 2, 3])
PRED = np.array([0, 1, 1, 1, 0, 2, 0])


def test_class_deletion_splits_the_test_rows_by_class():
    y_retain, y_forget = np.array([0, 1, 1, 3]), np.array([2, 2])
    assert retain_test_accuracy(Y_TEST, PRED, y_retain, y_forget) == pytest.approx(3 / 5)  # classes 0, 1, 3
    assert forget_test_accuracy(Y_TEST, PRED, y_retain, y_forget) == pytest.approx(1 / 2)  # class 2


def test_a_partly_deleted_class_counts_as_forgotten():
    """Selective deletion (cfdebias Fig. 6): the class keeps training rows, yet it is the forgotten one."""
    y_retain, y_forget = np.array([0, 1, 2, 3]), np.array([2])
    assert forget_test_accuracy(Y_TEST, PRED, y_retain, y_forget) == pytest.approx(1 / 2)
    assert retain_test_accuracy(Y_TEST, PRED, y_retain, y_forget) == pytest.approx(3 / 5)


def test_undefined_cases_are_nan_with_a_warning():
    every_class = np.array([0, 1, 2, 3])
    with pytest.warns(RuntimeWarning, match="no such class"):
        assert np.isnan(retain_test_accuracy(Y_TEST, PRED, every_class, every_class))  # uniform deletion
    with pytest.warns(RuntimeWarning, match="no such class"):
        assert np.isnan(forget_test_accuracy(Y_TEST, PRED, every_class, np.array([], dtype=np.int64)))
    with pytest.warns(RuntimeWarning, match="no row of those classes"):
        assert np.isnan(forget_test_accuracy(Y_TEST, PRED, every_class, np.array([7])))


def test_the_evaluator_gives_them_the_retain_and_forget_labels():
    class Constant:
        def predict(self, X):
            return np.zeros(len(X), dtype=np.int64)

    test = Split(np.zeros((4, 1)), np.array([0, 0, 1, 2]))
    retain, forget = Split(np.zeros((2, 1)), np.array([0, 1])), Split(np.zeros((1, 1)), np.array([2]))
    out = evaluate(["retain_test_accuracy", "forget_test_accuracy"],
                   Inputs({"test": test, "retain": retain, "forget": forget}, Constant()))
    assert out == {"retain_test_accuracy": pytest.approx(2 / 3), "forget_test_accuracy": 0.0}


def test_retained_class_accuracy_reads_the_remaining_rows_of_the_deleted_class():
    # class 2 partly deleted: its two rows left in D_r are judged, not the other classes' rows
    y_retain = np.array([0, 1, 2, 2, 3])
    pred_retain = np.array([1, 1, 2, 0, 0])
    assert retained_class_accuracy(y_retain, pred_retain, np.array([2, 2])) == pytest.approx(1 / 2)
    # a fully deleted class leaves no such row: nan with a warning, never a silent 0 or 1
    with pytest.warns(RuntimeWarning, match="retain split holds no row of those classes"):
        assert np.isnan(retained_class_accuracy(np.array([0, 1]), np.array([0, 1]), np.array([2])))
    with pytest.warns(RuntimeWarning, match="no such class"):
        assert np.isnan(retained_class_accuracy(y_retain, pred_retain, np.array([], dtype=np.int64)))
