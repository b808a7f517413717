"""fairunlearn unlearners: Fair Unlearning, Newton, PRU, SISA, retraining, on small random problems."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.core.errors import FairbenchError
from fairbench.datasets.base import Split
from fairbench.methods import METHODS
from fairbench.methods.learners.fair_logistic import FairLogisticRegression
from fairbench.methods.unlearning.pru import leave_k_out_predictions, working_response
from fairbench.metrics.leakage import certified_removal_epsilon, data_dependent_residual_bound


def _split(seed: int = 0, n: int = 400, p: int = 4) -> Split:
    rng = np.random.default_rng(seed)
    s = (rng.uniform(size=n) < 0.35).astype(int)
    X = rng.normal(size=(n, p)) + 0.8 * s[:, None] * np.linspace(1, -1, p)
    X /= np.linalg.norm(X, axis=1).max()  # bounded rows, as the paper's preprocessing
    logits = 6 * X @ np.linspace(1, -0.5, p) + 0.8 * s - 0.2
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logits))).astype(int)
    return Split(X=X, y=y, s=s, index=np.arange(1000, 1000 + n))


def _deletion(train: Split, m: int, seed: int = 1) -> tuple[Split, Split]:
    forget = np.sort(np.random.default_rng(seed).choice(len(train), m, replace=False))
    retain = np.setdiff1d(np.arange(len(train)), forget)
    return train.subset(forget), train.subset(retain)


def _fit(train: Split, **params) -> FairLogisticRegression:
    return FairLogisticRegression(**{"l2": 1e-3, "sigma": 1.0, "random_state": 5, **params}).fit(train.X, train.y, s=train.s)


def _unlearner(name: str, **params):
    return METHODS.get(name).factory(**params)


def _retrained(model, retain):
    return _unlearner("retrain").unlearn(model, None, retain)


def test_fair_unlearning_leaves_a_remaining_gradient_far_below_the_original():
    train = _split()
    model = _fit(train, gamma=2.0)
    forget, retain = _deletion(train, 40)
    unlearned = _unlearner("fair_unlearning").unlearn(model, forget, retain)
    before = np.linalg.norm(model.objective_gradient(retain.X, retain.y, retain.s))
    after = np.linalg.norm(unlearned.objective_gradient(retain.X, retain.y, retain.s))
    assert before > 1
    assert after < 0.05 * before  # one Newton step on a strongly non-quadratic problem: ≈ 2 % here
    retrained = _retrained(model, retain)
    assert np.linalg.norm(unlearned.coef_ - retrained.coef_) < 0.05 * np.linalg.norm(model.coef_ - retrained.coef_)


def test_fair_unlearning_residual_is_within_the_data_dependent_bound():
    train = _split(seed=3)
    model = _fit(train, gamma=2.0)
    forget, retain = _deletion(train, 60, seed=4)
    unlearned = _unlearner("fair_unlearning").unlearn(model, forget, retain)
    residual = np.linalg.norm(unlearned.objective_gradient(retain.X, retain.y, retain.s))
    bound = data_dependent_residual_bound(model.design(retain.X), model.coef_, unlearned.coef_)
    assert 0 < residual <= bound
    # Corollary 1: strong convexity turns the residual into a parameter distance to retraining.
    retrained = _retrained(model, retain)
    assert np.linalg.norm(unlearned.coef_ - retrained.coef_) <= residual / (model.l2 * len(retain)) + 1e-12


def test_with_gamma_zero_fair_unlearning_equals_newton():
    train = _split(seed=2)
    model = _fit(train, gamma=0.0)
    forget, retain = _deletion(train, 30)
    fair = _unlearner("fair_unlearning").unlearn(model, forget, retain)
    newton = _unlearner("newton").unlearn(model, forget, retain)
    np.testing.assert_array_equal(fair.coef_, newton.coef_)
    # ... and the fairness correction is what separates them when gamma > 0
    fair_model = _fit(train, gamma=2.0)
    assert not np.allclose(_unlearner("fair_unlearning").unlearn(fair_model, forget, retain).coef_,
                           _unlearner("newton").unlearn(fair_model, forget, retain).coef_, atol=1e-6)


def test_newton_tracks_bce_retraining():
    train = _split(seed=6)
    model = _fit(train, penalty="none")
    forget, retain = _deletion(train, 20)
    unlearned = _unlearner("newton").unlearn(model, forget, retain)
    retrained = _retrained(model, retain)
    assert np.linalg.norm(unlearned.coef_ - retrained.coef_) < 1e-2 * np.linalg.norm(model.coef_ - retrained.coef_)


@pytest.mark.parametrize("name,params,gamma", [
    ("fair_unlearning", {}, 2.0), ("fair_unlearning", {"hessian_l2": "full"}, 2.0), ("newton", {}, 0.0),
    ("pru", {}, 0.0),
])
def test_precomputed_and_direct_paths_agree(name, params, gamma):
    train = _split(seed=7)
    model = _fit(train, gamma=gamma)
    forget, retain = _deletion(train, 50)
    direct = _unlearner(name, **params).unlearn(model, forget, retain)
    prepared = _unlearner(name, **params)
    prepared.prepare(model, train)
    np.testing.assert_allclose(prepared.unlearn(model, forget, retain).coef_, direct.coef_, rtol=1e-9, atol=1e-11)


def test_hessian_l2_full_differs_from_the_exact_step():
    train = _split(seed=8)
    model = _fit(train, gamma=2.0)
    forget, retain = _deletion(train, 100)
    exact = _unlearner("fair_unlearning").unlearn(model, forget, retain)
    repo = _unlearner("fair_unlearning", hessian_l2="full").unlearn(model, forget, retain)
    retrained = _retrained(model, retain)
    assert np.linalg.norm(exact.coef_ - retrained.coef_) < np.linalg.norm(repo.coef_ - retrained.coef_)


def test_pru_leave_k_out_predictions_equal_the_hat_matrix_formula():
    train = _split(seed=9, n=120, p=3)
    model = _fit(train)
    Xd = model.design(train.X)
    w, z = working_response(Xd, train.y, model.coef_)
    ridge = 0.3
    removed = np.array([2, 7, 30, 31, 64, 100])
    # Izzo et al.: H = X A⁻¹ XᵀW over all rows; ŷ′_R = (I − H_RR)⁻¹ (ŷ_R − H_RR z_R), ŷ = Hz.
    A = (Xd * w[:, None]).T @ Xd + ridge * np.eye(Xd.shape[1])
    H = Xd @ np.linalg.solve(A, Xd.T * w)
    H_RR = H[np.ix_(removed, removed)]
    expected = np.linalg.solve(np.eye(len(removed)) - H_RR, (H @ z)[removed] - H_RR @ z[removed])
    got = leave_k_out_predictions((Xd * w[:, None]).T @ Xd, Xd.T @ (w * z), ridge,
                                  Xd[removed], w[removed], z[removed])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)


def test_pru_without_noise_is_the_newton_step_and_repo_variant_is_not():
    train = _split(seed=10)
    model = _fit(train, penalty="none", sigma=0.0)
    forget, retain = _deletion(train, 40)
    retrained = _retrained(model, retain)
    gap = np.linalg.norm(model.coef_ - retrained.coef_)
    pru = _unlearner("pru").unlearn(model, forget, retain)
    newton = _unlearner("newton").unlearn(model, forget, retain)
    np.testing.assert_allclose(pru.coef_, newton.coef_, atol=1e-5 * np.linalg.norm(newton.coef_))
    assert np.linalg.norm(pru.coef_ - retrained.coef_) < 0.1 * gap
    repo = _unlearner("pru", variant="repo")
    repo.prepare(model, train)
    assert np.linalg.norm(repo.unlearn(model, forget, retain).coef_ - retrained.coef_) > gap


def test_sisa_with_one_shard_equals_retraining():
    train = _split(seed=11)
    bce = FairLogisticRegression(l2=1e-3, penalty="none", sigma=0.0)
    ensemble = METHODS.get("sisa_ensemble").factory(shards=1, l2=1e-3).fit(train.X, train.y, index=train.index)
    forget, retain = _deletion(train, 25)
    unlearned = _unlearner("sisa").unlearn(ensemble, forget, retain)
    retrained = bce.fit(retain.X, retain.y)
    np.testing.assert_allclose(unlearned.models_[0].coef_, retrained.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(unlearned.predict(train.X), retrained.predict(train.X))


def test_sisa_refits_only_the_shards_that_held_forgotten_rows_and_votes():
    train = _split(seed=12)
    ensemble = METHODS.get("sisa_ensemble").factory(shards=5, l2=1e-3, random_state=2).fit(
        train.X, train.y, index=train.index)
    hit = ensemble.shard_of(train.index[:3])
    forget, retain = train.subset(np.arange(3)), train.subset(np.arange(3, len(train)))
    unlearned = _unlearner("sisa").unlearn(ensemble, forget, retain)
    for k in range(5):
        assert (unlearned.models_[k] is ensemble.models_[k]) == (k not in hit)
    votes = np.mean([m.predict(train.X) for m in unlearned.models_], axis=0)
    np.testing.assert_array_equal(unlearned.predict(train.X), (votes >= 0.6).astype(int))  # 3 of 5


def test_sisa_shard_left_with_one_class_is_an_error():
    train = _split(seed=13, n=60)
    ensemble = METHODS.get("sisa_ensemble").factory(shards=2, l2=1e-3).fit(train.X, train.y, index=train.index)
    shard0 = np.flatnonzero(ensemble.shard_of(train.index) == 0)
    forget_rows = shard0[train.y[shard0] == 1]
    keep = np.setdiff1d(np.arange(len(train)), forget_rows)
    with pytest.raises(FairbenchError, match="single class"):
        _unlearner("sisa").unlearn(ensemble, train.subset(forget_rows), train.subset(keep))


def test_sisa_shards_can_be_any_learner_and_a_refit_repeats_the_shard():
    train = _split(seed=15)
    dnn = {"hidden": [8], "epochs": 3, "batch_size": 64}
    ensemble = METHODS.get("sisa_ensemble").factory(shards=2, learner="dnn", random_state=4, **dnn).fit(
        train.X, train.y, index=train.index)
    assert type(ensemble.models_[0]).__name__ == "DNNClassifier"
    hit = int(ensemble.shard_of(train.index[:1])[0])
    forget, retain = train.subset(np.arange(1)), train.subset(np.arange(1, len(train)))
    unlearned = _unlearner("sisa").unlearn(ensemble, forget, retain)
    shard_rows = retain.subset(ensemble.shard_of(retain.index) == hit)
    alone = METHODS.get("dnn").factory(**dnn, random_state=4 + hit).fit(shard_rows.X, shard_rows.y)
    np.testing.assert_array_equal(unlearned.models_[hit].predict_proba(train.X), alone.predict_proba(train.X))
    assert unlearned.models_[1 - hit] is ensemble.models_[1 - hit]
    assert np.allclose(unlearned.predict_proba(train.X).sum(axis=1), 1.0)


def test_sisa_rejects_what_its_shard_learner_does_not_take():
    train = _split(seed=13)
    with pytest.raises(FairbenchError, match="dnn shards rejected"):  # when fitting: the constructor only stores
        METHODS.get("sisa_ensemble").factory(learner="dnn", l2=0.1).fit(train.X, train.y, index=train.index)
    with pytest.raises(FairbenchError, match="must be learners"):
        METHODS.get("sisa_ensemble").factory(learner="bt").fit(train.X, train.y, index=train.index)


def test_full_training_keeps_the_model_and_retraining_reuses_its_noise():
    train = _split(seed=14)
    model = _fit(train, gamma=1.0)
    forget, retain = _deletion(train, 10)
    assert _unlearner("full_training").unlearn(model, forget, retain) is model
    retrained = _retrained(model, retain)
    np.testing.assert_array_equal(retrained.noise_, model.noise_)
    assert retrained.grad_norm_ < 1e-9


def test_unlearners_reject_inconsistent_requests():
    train = _split(seed=15)
    model = _fit(train, gamma=1.0)
    forget, retain = _deletion(train, 10)
    with pytest.raises(FairbenchError, match="do not add up"):
        _unlearner("fair_unlearning").unlearn(model, forget, retain.subset(np.arange(5)))
    with pytest.raises(FairbenchError, match="fair_logreg"):
        _unlearner("newton").unlearn(object(), forget, retain)
    with pytest.raises(FairbenchError, match="variant"):
        _unlearner("pru", variant="nope").unlearn(model, forget, retain)


def test_epsilon_formula_and_its_undefined_cases():
    assert certified_removal_epsilon(2.0, 4.0, 1e-4) == pytest.approx(0.5 * np.sqrt(2 * np.log(1.5e4)))
    with pytest.warns(RuntimeWarning):
        assert np.isnan(certified_removal_epsilon(2.0, 0.0, 1e-4))
