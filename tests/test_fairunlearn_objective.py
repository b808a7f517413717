"""fairunlearn: the O(n·d) group-fairness penalty against brute-force pairs, and the fitted optimum."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_expit

from fairbench.core.errors import FairbenchError
from fairbench.methods.learners.fair_logistic import FairLogisticRegression, GroupLabelSums, fairness_penalty


def _problem(seed: int = 0, n: int = 37, p: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    s = (rng.uniform(size=n) < 0.4).astype(int)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(X[:, 0] + s - 0.3)))).astype(int)
    Xd = np.column_stack([X, np.ones(n)])
    return X, Xd, y, s, rng.normal(size=p + 1)


def _pairs_keep(penalty: str, yi, yj) -> bool:
    return {"eo": yi == yj, "eopp": yi == yj == 1, "dp": True}[penalty]


def _brute_force(Xd, y, s, theta, penalty):
    """Eq. 3 literally: the mean over every (i ∈ G_a, j ∈ G_b) pair, squared; derivatives by hand."""
    a, b = np.flatnonzero(s == 0), np.flatnonzero(s == 1)
    total = np.zeros(Xd.shape[1])
    for i in a:
        for j in b:
            if _pairs_keep(penalty, y[i], y[j]):
                total += Xd[i] - Xd[j]
    v = total / (len(a) * len(b))
    r = v @ theta
    return r**2, 2 * r * v, 2 * np.outer(v, v)


@pytest.mark.parametrize("penalty", ["eo", "dp", "eopp"])
def test_group_sum_penalty_equals_brute_force_pairs(penalty):
    _, Xd, y, s, theta = _problem()
    v = GroupLabelSums.of(Xd, y, s).direction(penalty)
    value, grad, hess = fairness_penalty(theta, v)
    bf_value, bf_grad, bf_hess = _brute_force(Xd, y, s, theta, penalty)
    assert bf_value > 1e-6  # a non-trivial penalty, so the comparison means something
    np.testing.assert_allclose(value, bf_value, rtol=1e-12)
    np.testing.assert_allclose(grad, bf_grad, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(hess, bf_hess, rtol=1e-11, atol=1e-14)


def test_gradient_and_hessian_match_finite_differences():
    _, Xd, y, s, theta = _problem(seed=3)
    v = GroupLabelSums.of(Xd, y, s).direction("eo")
    _, grad, hess = fairness_penalty(theta, v)
    h = 1e-6
    for k in range(len(theta)):
        e = np.zeros_like(theta)
        e[k] = h
        plus, g_plus, _ = fairness_penalty(theta + e, v)
        minus, g_minus, _ = fairness_penalty(theta - e, v)
        np.testing.assert_allclose((plus - minus) / (2 * h), grad[k], rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose((g_plus - g_minus) / (2 * h), hess[:, k], rtol=1e-6, atol=1e-10)


def test_subtracting_removed_rows_equals_recomputing_on_the_rest():
    _, Xd, y, s, _ = _problem(seed=1)
    removed = np.array([0, 3, 4, 10, 20])
    rest = np.setdiff1d(np.arange(len(y)), removed)
    updated = GroupLabelSums.of(Xd, y, s) - GroupLabelSums.of(Xd[removed], y[removed], s[removed])
    direct = GroupLabelSums.of(Xd[rest], y[rest], s[rest])
    np.testing.assert_allclose(updated.sums, direct.sums, atol=1e-12)
    np.testing.assert_array_equal(updated.counts, direct.counts)
    np.testing.assert_allclose(updated.direction("eo"), direct.direction("eo"), atol=1e-14)


def test_intercept_column_contributes_nothing_to_the_pair_sum():
    _, Xd, y, s, _ = _problem(seed=2)
    assert abs(GroupLabelSums.of(Xd, y, s).pair_sum("eo")[-1]) < 1e-9


def test_a_group_emptied_by_deletion_is_an_error():
    _, Xd, y, s, _ = _problem()
    only_a = s == 0
    with pytest.raises(FairbenchError, match="both groups"):
        GroupLabelSums.of(Xd[only_a], y[only_a], s[only_a]).direction("eo")


@pytest.mark.parametrize("gamma,sigma", [(0.0, 0.0), (0.5, 1.0), (5.0, 0.1)])
def test_fit_reaches_the_minimum_of_the_stated_objective(gamma, sigma):
    X, Xd, y, s, _ = _problem(seed=4, n=60)
    model = FairLogisticRegression(l2=1e-2, gamma=gamma, sigma=sigma, random_state=7).fit(X, y, s=s)
    assert model.grad_norm_ < 1e-9
    n = len(y)
    b = model.noise_
    v = GroupLabelSums.of(Xd, y, s).direction("eo")

    def objective(theta):  # F(θ) of the docstring, written out independently
        z = Xd @ theta
        bce = -np.mean(y * log_expit(z) + (1 - y) * log_expit(-z))
        return bce + gamma * (v @ theta) ** 2 + 0.5 * 1e-2 * theta @ theta + b @ theta / n

    reference = minimize(objective, np.zeros(Xd.shape[1]), method="BFGS", options={"gtol": 1e-10})
    assert objective(model.coef_) <= reference.fun + 1e-12
    np.testing.assert_allclose(model.coef_, reference.x, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(model.objective_gradient(X, y, s)), model.grad_norm_, atol=1e-12)


def test_same_parameters_give_the_same_noise_and_fit():
    X, _, y, s, _ = _problem(seed=5, n=50)
    a = FairLogisticRegression(gamma=1.0, sigma=1.0, random_state=3).fit(X, y, s=s)
    b = FairLogisticRegression(**a.get_params()).fit(X, y, s=s)
    c = FairLogisticRegression(gamma=1.0, sigma=1.0, random_state=4).fit(X, y, s=s)
    np.testing.assert_array_equal(a.noise_, b.noise_)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.allclose(a.noise_, c.noise_)


def test_fair_model_needs_the_sensitive_attribute():
    X, _, y, _, _ = _problem()
    with pytest.raises(FairbenchError, match="sensitive attribute"):
        FairLogisticRegression(gamma=1.0).fit(X, y)
    FairLogisticRegression(gamma=1.0, penalty="none").fit(X, y)  # BCE needs no s
