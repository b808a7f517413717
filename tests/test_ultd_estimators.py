"""IPS / DR estimators (ultd.md §1) on a simulated MNAR matrix whose ideal loss is known.

Ratings and errors are fixed; observation is missing not at random (high ratings are observed
more often). Over many draws of the observation matrix, E_IPS and E_DR (with the true
propensities, any imputation) average to the ideal loss (1/|D|) sum_D e, while the naive estimate
over the observed pairs does not. The fitted propensity model recovers a logistic observation
mechanism.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fairbench.core.determinism import seed_everything
from fairbench.methods.recsys._debias import dr_estimate, fit_propensity, inverse_propensity, ips_estimate
from fairbench.methods._threads import limited_threads
from fairbench.methods.recsys._mf import Pairs, RecData

N_USERS, N_ITEMS, DRAWS = 40, 50, 4000


@pytest.fixture(scope="module")
def mnar():
    rng = np.random.default_rng(0)
    rating = rng.integers(1, 6, size=(N_USERS, N_ITEMS))
    error = rng.gamma(2.0, 0.5, size=(N_USERS, N_ITEMS)) * (rating / 3.0)  # errors correlate with ratings
    propensity = np.clip(0.02 + 0.06 * (rating - 1) + 0.02 * rng.random((N_USERS, N_ITEMS)), 0.02, 1.0)
    observed = rng.random((DRAWS, N_USERS, N_ITEMS)) < propensity  # DRAWS independent observation matrices
    return {"error": error, "propensity": propensity, "observed": observed, "ideal": error.mean(),
            "imputed": np.full_like(error, error.mean() * 0.5) + 0.3 * rng.random(error.shape)}


def _estimates(mnar, fn) -> np.ndarray:
    out = []
    for obs in mnar["observed"]:
        users, items = np.nonzero(obs)
        out.append(fn(users, items, obs.sum() / obs.size))
    return np.asarray(out)


def _t(a) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float64)


def test_ips_unbiased_and_naive_biased(mnar):
    e, p = mnar["error"], mnar["propensity"]
    ips = _estimates(mnar, lambda u, i, ratio: float(ips_estimate(_t(e[u, i]), _t(1 / p[u, i]), ratio)))
    naive = _estimates(mnar, lambda u, i, ratio: float(e[u, i].mean()))
    se = ips.std() / np.sqrt(len(ips))
    assert abs(ips.mean() - mnar["ideal"]) < 4 * se + 1e-3
    assert abs(naive.mean() - mnar["ideal"]) > 20 * naive.std() / np.sqrt(len(naive))  # MNAR: naive is biased


def test_dr_unbiased_with_true_propensities_and_any_imputation(mnar):
    e, p, imp = mnar["error"], mnar["propensity"], mnar["imputed"]
    dr = _estimates(mnar, lambda u, i, ratio: float(dr_estimate(_t(e[u, i]), _t(imp[u, i]), _t(1 / p[u, i]),
                                                                 _t(imp.ravel()), ratio)))
    assert abs(dr.mean() - mnar["ideal"]) < 4 * dr.std() / np.sqrt(len(dr)) + 1e-3
    # with the exact imputation e_hat = e the estimate is exact on every draw (zero variance)
    exact = _estimates(mnar, lambda u, i, ratio: float(dr_estimate(_t(e[u, i]), _t(e[u, i]), _t(1 / p[u, i]),
                                                                    _t(e.ravel()), ratio)))
    assert np.allclose(exact, mnar["ideal"])


def test_dr_wrong_propensities_correct_imputation_still_unbiased(mnar):
    """Double robustness: constant (wrong) propensities are fine when the imputation is right."""
    e = mnar["error"]
    dr = _estimates(mnar, lambda u, i, ratio: float(dr_estimate(_t(e[u, i]), _t(e[u, i]), _t(np.full(len(u), 7.0)),
                                                                 _t(e.ravel()), ratio)))
    assert np.allclose(dr, mnar["ideal"])
    wrong_ips = _estimates(mnar, lambda u, i, ratio: float(ips_estimate(_t(e[u, i]), _t(np.full(len(u), 1 / ratio)), ratio)))
    assert abs(wrong_ips.mean() - mnar["ideal"]) > 0.05  # IPS with wrong propensities is biased here


def test_minibatch_estimates_average_to_full_estimate(mnar):
    """The per-batch form used in training (batch of O + uniform batch of D) is unbiased for E_DR."""
    seed_everything(0)
    e, p, imp = mnar["error"], mnar["propensity"], mnar["imputed"]
    users, items = np.nonzero(mnar["observed"][0])
    ratio = len(users) / e.size
    full = float(dr_estimate(_t(e[users, items]), _t(imp[users, items]), _t(1 / p[users, items]), _t(imp.ravel()), ratio))
    rng = np.random.default_rng(1)
    batches = []
    for _ in range(3000):
        b = rng.integers(0, len(users), 16)
        su, si = rng.integers(0, N_USERS, 16), rng.integers(0, N_ITEMS, 16)
        u, i = users[b], items[b]
        batches.append(float(dr_estimate(_t(e[u, i]), _t(imp[u, i]), _t(1 / p[u, i]), _t(imp[su, si]), ratio)))
    assert abs(np.mean(batches) - full) < 4 * np.std(batches) / np.sqrt(len(batches))


def test_fit_propensity_recovers_logistic_observation_model():
    seed_everything(0)
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, N_USERS), rng.normal(0, 1, N_ITEMS)
    truth = 1 / (1 + np.exp(-(a[:, None] + b[None, :] - 2.0)))
    users, items = np.nonzero(rng.random(truth.shape) < truth)
    pairs = Pairs.from_arrays(np.column_stack([users, items]), np.ones(len(users)))
    empty = Pairs.from_arrays(None, None)
    data = RecData(N_USERS, N_ITEMS, pairs, empty, empty)
    with limited_threads():  # as inside Recommender.fit: tiny batches are latency-bound
        model = fit_propensity(data, epochs=60, batch_size=256, lr=0.05)
    grid_u, grid_i = np.meshgrid(np.arange(N_USERS), np.arange(N_ITEMS), indexing="ij")
    with torch.no_grad():
        fitted = 1 / inverse_propensity(model, torch.as_tensor(grid_u.ravel()), torch.as_tensor(grid_i.ravel()), 1e-6)
    corr = np.corrcoef(fitted.numpy(), truth.ravel())[0, 1]
    assert corr > 0.9
    assert abs(float(fitted.mean()) - len(users) / truth.size) < 0.03
