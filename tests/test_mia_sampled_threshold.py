"""The bounded, label-stratified shadow sample of the confidence SVC and the exact threshold attacker
(issue 18, item 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairbench.metrics import mia as M
from fairbench.metrics.registry import METRICS


def _one_hot_probs(conf: np.ndarray, y: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Probabilities with p[y] = conf and the rest spread evenly over the other classes."""
    p = np.repeat(((1 - conf) / (n_classes - 1))[:, None], n_classes, axis=1)
    p[np.arange(len(y)), y] = conf
    return p


def _sets(seed: int, n_retain: int, n_test: int, n_forget: int = 2000):
    """Members (retain, forget) confident, non-members (test) less so, overlapping (the Bayes boundary is
    a confidence of 0.7); 3 unbalanced classes."""
    rng = np.random.default_rng(seed)
    out = []
    for size, mean in ((n_forget, 0.8), (n_retain, 0.8), (n_test, 0.6)):
        y = rng.choice(3, size=size, p=[0.6, 0.3, 0.1])
        out += [_one_hot_probs(np.clip(rng.normal(mean, 0.1, size), 0.34, 1.0), y), y]
    return out


def test_stratified_sample_keeps_label_shares_and_is_deterministic_per_seed():
    y = np.random.default_rng(0).choice(4, size=5000, p=[0.5, 0.3, 0.15, 0.05])
    picks = M.stratified_sample(y, 1000, np.random.default_rng(7))
    assert len(picks) == 1000 and len(np.unique(picks)) == 1000 and np.all(np.diff(picks) > 0)
    expected = np.bincount(y) * 1000 / len(y)
    assert np.all(np.abs(np.bincount(y[picks], minlength=4) - expected) < 1)  # each label's share, rounded
    np.testing.assert_array_equal(picks, M.stratified_sample(y, 1000, np.random.default_rng(7)))
    assert not np.array_equal(picks, M.stratified_sample(y, 1000, np.random.default_rng(8)))
    np.testing.assert_array_equal(M.stratified_sample(y[:10], 50, np.random.default_rng(0)), np.arange(10))


def test_sampled_svc_draws_a_bounded_stratified_shadow_set():
    sets = _sets(1, n_retain=3000, n_test=2500)
    r = M.svc_confidence_member_rate(*sets, seed=3, max_shadow=400, stratify=True)
    assert r["n_shadow_members"] == r["n_shadow_nonmembers"] == 400
    assert r == M.svc_confidence_member_rate(*sets, seed=3, max_shadow=400, stratify=True)
    assert M.mia_svc_confidence_member_rate_sampled(*sets, seed=3) == \
        M.svc_confidence_member_rate(*sets, seed=3, max_shadow=2000, stratify=True)["member_rate"]


def test_sampled_svc_equals_the_full_svc_when_the_sample_covers_both_sets():
    sets = _sets(2, n_retain=500, n_test=500)  # n = 500 a side <= 2,000: both draws take every row
    full = M.mia_svc_confidence_member_rate(*sets, seed=0)
    assert M.mia_svc_confidence_member_rate_sampled(*sets, seed=0) == full
    assert M.mia_svc_confidence_member_rate_sampled(*sets, seed=4) == full


def test_sampled_svc_is_close_to_the_full_svc():
    sets = _sets(3, n_retain=6000, n_test=5000)
    full = M.mia_svc_confidence_member_rate(*sets, seed=0)
    sampled = [M.mia_svc_confidence_member_rate_sampled(*sets, seed=s) for s in range(3)]
    assert full > 0.5
    assert max(abs(v - full) for v in sampled) < 0.05


def _brute_force_threshold(score, member):
    """Accuracy of the best rule over every candidate threshold (each score and ±inf), both directions."""
    best = 0.0
    for t in np.r_[-np.inf, np.unique(score), np.inf]:
        high = score >= t
        best = max(best, np.mean(high == member), np.mean(~high == member))
    return best


def test_best_threshold_on_a_hand_made_example():
    # sorted: 0.1n 0.2n 0.3n 0.4m 0.6n 0.7m 0.8m 0.9m; cuts at 0.35 and 0.65 both get 7 of 8 right
    score = np.array([0.9, 0.8, 0.7, 0.4, 0.6, 0.3, 0.2, 0.1])
    member = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    assert M.best_threshold(score, member) == (pytest.approx(0.35), 1, 0.875)
    t, direction, accuracy = M.best_threshold(1 - score, member)  # members now have the low scores
    assert (t, direction, accuracy) == (pytest.approx(0.35), -1, 0.875)
    assert M.best_threshold(np.array([0.5, 0.5, 0.5, 0.5]), np.array([1, 1, 0, 0])) == (-np.inf, 1, 0.5)
    assert M.best_threshold(np.array([0.2, 0.1, 0.8, 0.9]), np.array([0, 0, 1, 1])) == (pytest.approx(0.5), 1, 1.0)


def test_best_threshold_is_the_exact_optimum():
    rng = np.random.default_rng(0)
    for _ in range(20):
        score = rng.choice(np.linspace(0, 1, 15), size=40)  # ties between members and non-members
        member = rng.integers(0, 2, 40)
        t, direction, accuracy = M.best_threshold(score, member)
        assert accuracy == pytest.approx(_brute_force_threshold(score, member))
        called = score >= t if direction > 0 else score < t
        assert np.mean(called == member) == pytest.approx(accuracy)


def test_threshold_member_rate_by_hand():
    y = np.zeros(4, dtype=np.int64)
    p_retain, p_test = _one_hot_probs(np.array([0.9, 0.8, 0.7, 0.4]), y), _one_hot_probs(np.array([0.6, 0.3, 0.2, 0.1]), y)
    p_forget = _one_hot_probs(np.array([0.95, 0.5, 0.3, 0.1, 0.36]), np.zeros(5, dtype=np.int64))
    r = M.threshold_confidence_member_rate(p_forget, np.zeros(5, dtype=np.int64), p_retain, y, p_test, y, seed=0)
    assert r["threshold"] == pytest.approx(0.35) and r["direction"] == 1 and r["shadow_accuracy"] == 0.875
    assert r["member_rate"] == pytest.approx(3 / 5) and r["efficacy"] == pytest.approx(2 / 5)
    assert M.mia_threshold_confidence_member_rate(p_forget, np.zeros(5, dtype=np.int64), p_retain, y, p_test, y) \
        == pytest.approx(3 / 5)


def test_new_mia_metrics_are_registered_and_nan_where_undefined():
    for name in ("mia_svc_confidence_member_rate_sampled", "mia_threshold_confidence_member_rate"):
        info = METRICS.get(name)
        assert info.kind == "privacy" and info.higher_is_better is False and info.needs.seeded and info.summary
    sets = _sets(4, n_retain=50, n_test=50)
    empty_p, empty_y = np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    for metric in (M.mia_svc_confidence_member_rate_sampled, M.mia_threshold_confidence_member_rate):
        with pytest.warns(RuntimeWarning):
            assert math.isnan(metric(empty_p, empty_y, *sets[2:], seed=0))
        with pytest.warns(RuntimeWarning):
            assert math.isnan(metric(*sets[:2], *sets[2:4], empty_p, empty_y, seed=0))
    with pytest.raises(ValueError):
        M.threshold_confidence_member_rate(*sets, max_shadow=0)
