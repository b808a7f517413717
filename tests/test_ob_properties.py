"""OB paper, acceptance line 4 and the continuous pieces: OB / SOB algebra, the continuous CF-metric,
the MLP / Adv learners and ``fairbench run --method ob --dataset crime``."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.methods.fairness.ob import OrthogonalToBias
from fairbench.methods.fairness.sob import SparseOrthogonalToBias, l1_constrained_direction
from fairbench.metrics import METRICS


def _continuous(seed: int = 0, n: int = 300, p: int = 8, m: int = 2):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, m))
    X = rng.normal(size=(n, p)) + A @ rng.normal(size=(m, p)) + 3.0  # correlated with A, not centred
    return X, A


@pytest.mark.parametrize("k", [2, 5, 8])
@pytest.mark.parametrize("mode", ["transductive", "inductive"])
def test_ob_output_is_orthogonal_to_the_centred_sensitive_columns(k, mode):
    X, A = _continuous()
    Xt = OrthogonalToBias(k=k, mode=mode).fit(X, None, A).transform(X, A)
    Ac = A - A.mean(axis=0)
    assert np.abs(Ac.T @ Xt).max() < 1e-9 * np.abs(Ac.T @ X).max()
    assert np.linalg.matrix_rank(Xt) == k


def test_ob_orthogonal_for_discrete_codes_and_indicators():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 4, 400)
    X = rng.normal(size=(400, 5)) + s[:, None] * 0.7
    numeric = OrthogonalToBias(k=5, encoding="numeric").fit(X, None, s).transform(X, s)
    onehot = OrthogonalToBias(k=5, encoding="onehot").fit(X, None, s).transform(X, s)
    assert abs((s - s.mean()) @ numeric).max() < 1e-9
    group_means = np.stack([onehot[s == g].mean(axis=0) for g in range(4)])
    np.testing.assert_allclose(group_means, 0.0, atol=1e-12)  # k = p: X minus its group means


@pytest.mark.parametrize("k", [1, 3, 6])
def test_ob_reconstruction_error_is_lemma_b1(k):
    """‖X − X̃‖²_F = ‖X − X_k‖²_F + ‖P_A L_k D_k‖²_F for centred X and A (ob.md Lemma B.1)."""
    X, A = _continuous(seed=2)
    X = X - X.mean(axis=0)
    A = A - A.mean(axis=0)
    Xt = OrthogonalToBias(k=k).fit(X, None, A).transform(X, A)
    L, D, Vt = np.linalg.svd(X, full_matrices=False)
    Xk = (L[:, :k] * D[:k]) @ Vt[:k]
    P_A = A @ np.linalg.solve(A.T @ A, A.T)
    lhs = np.linalg.norm(X - Xt) ** 2
    rhs = np.linalg.norm(X - Xk) ** 2 + np.linalg.norm(P_A @ (L[:, :k] * D[:k])) ** 2
    assert lhs == pytest.approx(rhs, rel=1e-10)
    assert lhs > np.linalg.norm(X - Xk) ** 2  # A correlates with the top directions: a real extra cost


def test_ob_inductive_equals_transductive_on_the_training_matrix():
    X, A = _continuous(seed=3)
    a = OrthogonalToBias(k=4, mode="inductive").fit(X, None, A).transform(X, A)
    b = OrthogonalToBias(k=4, mode="transductive").fit(X, None, A).transform(X, A)
    np.testing.assert_allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("t", [1.2, 1.7, 2.5])
def test_sob_loadings_respect_the_l1_bound_and_scores_stay_orthogonal(t):
    X, A = _continuous(seed=4, n=400, p=10)
    sob = SparseOrthogonalToBias(k=4, t=t).fit(X, None, A)
    f = sob.fitted_
    U, S = f["loadings"], f["scores"]
    assert np.all(np.abs(U).sum(axis=0) <= t + 1e-9)
    np.testing.assert_allclose(np.linalg.norm(U, axis=0), 1.0, atol=1e-10)
    design = np.column_stack([np.ones(len(A)), A])
    assert np.abs(design.T @ S).max() < 1e-9
    np.testing.assert_allclose(S.T @ S, np.eye(4), atol=1e-9)
    Xt = sob.transform(X, A)
    assert np.abs((A - A.mean(axis=0)).T @ Xt).max() < 1e-8 * np.abs(X).max() * len(X)


def test_sob_without_an_active_bound_spans_the_ob_subspace():
    X, A = _continuous(seed=5, n=300, p=6)
    sob = SparseOrthogonalToBias(k=6, t=np.sqrt(6), tol=1e-10, max_iter=20000).fit(X, None, A).transform(X, A)
    ob = OrthogonalToBias(k=6).fit(X, None, A).transform(X, A)
    np.testing.assert_allclose(sob, ob, atol=1e-6 * np.abs(ob).max())


def test_l1_constrained_direction_hits_the_bound():
    rng = np.random.default_rng(6)
    for _ in range(200):
        v = rng.normal(size=rng.integers(2, 20)) * rng.exponential(size=1)
        t = rng.uniform(1.0, np.sqrt(len(v)))
        u = l1_constrained_direction(v, t)
        assert np.linalg.norm(u) == pytest.approx(1.0)
        assert np.abs(u).sum() <= t + 1e-8
        if np.abs(v).sum() > t * np.linalg.norm(v):
            assert np.abs(u).sum() == pytest.approx(t, abs=1e-6)
        assert np.all(u * v >= 0)


def test_continuous_cf_metric():
    fn = METRICS.get("cf_metric_continuous").fn
    factual = np.array([0.0, 1.0, 2.0])
    counterfactual = np.array([[0.0, 1.0, 2.0], [1.0, -1.0, 2.0]])
    assert fn(factual, counterfactual) == pytest.approx((0 + 0 + 0 + 1 + 2 + 0) / 6)
    assert fn(factual, counterfactual, cost="squared") == pytest.approx((1 + 4) / 6)
    assert fn(factual, np.tile(factual, (5, 1))) == 0.0
    with pytest.warns(RuntimeWarning):
        assert np.isnan(fn(np.zeros(0), np.zeros((3, 0))))


def test_mlp_is_deterministic_and_learns_a_linear_map():
    from fairbench.methods.learners.mlp import MLPRegressor

    rng = np.random.default_rng(7)
    X, a = rng.uniform(size=(400, 3)), rng.uniform(size=(400, 1))
    y = X @ np.array([1.0, -2.0, 0.5]) + a[:, 0]
    first = MLPRegressor(epochs=60, lr=1e-2).fit(X, y, a).predict(X, a)
    second = MLPRegressor(epochs=60, lr=1e-2).fit(X, y, a).predict(X, a)
    np.testing.assert_array_equal(first, second)
    assert np.mean((first - y) ** 2) < 0.1 * np.var(y)


def test_adv_penalty_lowers_the_counterfactual_change():
    from fairbench.methods.fairness._adversarial_vae import AdversarialVAE
    from fairbench.methods.fairness.adv import AdversarialCounterfactual

    rng = np.random.default_rng(8)
    a = rng.uniform(size=(500, 1))
    X = np.clip(0.5 * a + 0.3 * rng.uniform(size=(500, 4)), 0, 1)
    y = X.sum(axis=1) + 2 * a[:, 0]
    vae = AdversarialVAE({"epochs": 5, "adversary_steps": 2, "first_epoch_adversary_steps": 2}).fit(X, y, a)
    a_new = np.linspace(0, 1, 5)[:, None]
    stacked = vae.counterfactual(X, y, a, a_new)
    assert stacked.shape == (5 * 500, 4)

    def change(lam):
        model = AdversarialCounterfactual(lam=lam, epochs=15, lr=1e-2)
        model.use_generator(vae)
        model.fit(X, y, a)
        factual = model.predict(vae.reconstruct(X, y, a), a)
        cf = model.predict(stacked, np.repeat(a_new, 500, axis=0)).reshape(5, 500)
        return METRICS.get("cf_metric_continuous").fn(factual, cf)

    assert change(20.0) < 0.5 * change(0.0)


@pytest.mark.needs_data("crime")
def test_run_ob_on_crime_prints_mse_cf_and_time(fb_env, cli):
    code, out, err = cli("run", "--method", "ob", "--dataset", "crime", "--set", "k=4", "--set", "epochs=2",
                         "--set", "generator.epochs=1", "--set", "generator.adversary_steps=1",
                         "--set", "generator.first_epoch_adversary_steps=1", "--set", "evaluation.counterfactuals=3")
    assert code == 0, err
    for name in ("mse", "cf_metric", "train_time_s", "time: fit_s"):
        assert name in out
