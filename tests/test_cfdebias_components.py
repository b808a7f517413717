"""cfdebias components: the C-CHVAE counterfactual search, the gradient mask, the intervention and the
contrastive boundary loss (issue 5, acceptance 4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fairbench.methods.unlearning import _cchvae
from fairbench.methods.unlearning.cfdebias import (
    Intervention, contrastive_boundary, feature_mask, gradient_mask, sensitive_columns,
)
from fairbench.methods.learners.dnn import DNNClassifier


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    model = DNNClassifier(hidden=(32, 16), epochs=60, batch_size=64, lr=3e-3).fit(X, y)
    vae = _cchvae.fit_vae(torch.as_tensor(X), torch.Generator().manual_seed(0), hidden=(32, 16), latent=4,
                          min_steps=1500)
    return model, vae, X


def test_counterfactuals_flip_the_prediction_and_are_closer_than_a_random_other_class_point(fitted):
    model, vae, X = fitted
    net = model.network_
    x = torch.as_tensor(X[:100])
    classify = lambda b: net(b).argmax(dim=1)  # noqa: E731
    cf = _cchvae.search(classify, vae, x, None, torch.Generator().manual_seed(1), step=0.25)
    assert cf.found.float().mean() >= 0.95
    pred, pred_cf = classify(x), classify(cf.x)
    assert torch.all(pred_cf[cf.found] != pred[cf.found])
    # a random training point the model puts in another class, per factual
    all_pred = classify(torch.as_tensor(X))
    rng = np.random.default_rng(2)
    others = [np.flatnonzero(all_pred.numpy() != int(p)) for p in pred]
    random_other = torch.stack([torch.as_tensor(X[rng.choice(rows)]) for rows in others])
    d_cf = torch.linalg.vector_norm(cf.x - x, ord=1, dim=1)[cf.found]
    d_random = torch.linalg.vector_norm(random_other - x, ord=1, dim=1)[cf.found]
    assert float(d_cf.mean()) < float(d_random.mean())
    assert float((d_cf < d_random).float().mean()) >= 0.8
    torch.testing.assert_close(cf.distance[cf.found], d_cf)


def test_counterfactual_search_keeps_immutable_features(fitted):
    model, vae, X = fitted
    x = torch.as_tensor(X[:40])
    immutable = torch.zeros_like(x, dtype=torch.bool)
    immutable[:, 2:] = True
    cf = _cchvae.search(lambda b: model.network_(b).argmax(dim=1), vae, x, immutable,
                        torch.Generator().manual_seed(3), step=0.25)
    torch.testing.assert_close(cf.x[:, 2:], x[:, 2:])
    assert cf.found.any()


class _IdentityVAE:
    """Latent space = input space, so a shell's latent L1 radius is the candidate's L1 distance."""

    def encode(self, x):
        return x, torch.zeros_like(x)

    def decode(self, z):
        return z


@pytest.mark.parametrize("batch_rows", [1, 3, None])
def test_work_queue_search_gives_each_row_its_own_first_flipping_shell(batch_rows):
    # class 1 iff x_0 > 0; factual i sits at x_0 = -a_i, so no candidate nearer than a_i flips and a
    # row's counterfactual lies at or just past a_i; the last row (a = 50) runs out of its 20 shells
    a = torch.tensor([0.3, 2.6, 0.8, 4.1, 1.7, 0.05, 3.3, 50.0])
    x = torch.stack([-a, torch.zeros_like(a)], dim=1)
    classify = lambda b: (b[:, 0] > 0).long()  # noqa: E731
    cf = _cchvae.search(classify, _IdentityVAE(), x, None, torch.Generator().manual_seed(0), step=0.5,
                        max_iter=20, batch_rows=batch_rows)
    assert cf.found.tolist() == [True] * 7 + [False]
    assert torch.all(classify(cf.x[:7]) == 1)
    torch.testing.assert_close(cf.distance[:7], torch.linalg.vector_norm(cf.x[:7] - x[:7], ord=1, dim=1))
    assert torch.all(cf.distance[:7] >= a[:7]) and torch.all(cf.distance[:7] < a[:7] + 1.0)
    assert torch.isnan(cf.distance[7]) and torch.equal(cf.x[7], x[7]) and cf.shells == 20


def test_geometric_shells_reach_far_rows_in_fewer_shells():
    a = torch.tensor([0.3, 4.1, 30.0])
    x = torch.stack([-a, torch.zeros_like(a)], dim=1)
    classify = lambda b: (b[:, 0] > 0).long()  # noqa: E731
    cf = _cchvae.search(classify, _IdentityVAE(), x, None, torch.Generator().manual_seed(0), step=0.5,
                        max_iter=100, growth=1.5)
    assert bool(cf.found.all()) and torch.all(cf.distance >= a)
    assert cf.shells < 12  # fixed-width shells need more than 60 to pass a radius of 30
    torch.testing.assert_close(cf.distance, torch.linalg.vector_norm(cf.x - x, ord=1, dim=1))


def test_counterfactual_is_the_nearest_flipped_candidate_of_its_shell():
    # one row, one shell holding every candidate: the reported counterfactual is the nearest that flips
    x = torch.tensor([[-1.0, 0.0]])
    gen = torch.Generator().manual_seed(5)
    cf = _cchvae.search(lambda b: (b[:, 0] > 0).long(), _IdentityVAE(), x, None, gen, n_search_samples=500,
                        step=3.0, max_iter=1)
    candidates = _cchvae.shell_samples(x, 500, torch.zeros(1), torch.full((1,), 3.0), 1.0,
                                       torch.Generator().manual_seed(5))[0]
    flipped = candidates[candidates[:, 0] > 0]
    nearest = flipped[torch.linalg.vector_norm(flipped - x, ord=1, dim=1).argmin()]
    torch.testing.assert_close(cf.x[0], nearest)


def test_shell_bounds_tile_the_radius_axis():
    k = torch.arange(6)
    low, high = _cchvae.shell_bounds(k, 0.5, 1.0)
    torch.testing.assert_close(low, 0.5 * k.float())
    torch.testing.assert_close(high, low + 0.5)
    low, high = _cchvae.shell_bounds(k, 0.5, 1.5)
    torch.testing.assert_close(low[1:], high[:-1])
    torch.testing.assert_close(high - low, 0.5 * 1.5 ** k.float())
    assert float(low[0]) == 0.0


@pytest.mark.parametrize("share", [0.25, 0.5, 0.7, 1.0, 0.0])
def test_gradient_mask_keeps_exactly_the_requested_share(share):
    gen = torch.Generator().manual_seed(0)
    magnitude = torch.rand((50, 20), generator=gen)
    mask = gradient_mask(magnitude, share)
    k = round(share * 20)
    assert torch.all(mask.sum(dim=1) == k)
    if 0 < k < 20:  # the background holds the smallest |δ|
        assert torch.all(magnitude[mask].reshape(50, k).max(dim=1).values
                         <= magnitude[~mask].reshape(50, 20 - k).min(dim=1).values)


def test_gradient_mask_forces_sensitive_columns_into_the_background():
    magnitude = torch.rand((30, 10), generator=torch.Generator().manual_seed(1))
    magnitude[:, 9] = 100.0  # most influential, but sensitive
    forced = torch.zeros(10, dtype=torch.bool)
    forced[9] = True
    mask = gradient_mask(magnitude, 0.5, forced)
    assert torch.all(mask[:, 9])
    assert torch.all(mask.sum(dim=1) == 5)


def test_image_mask_is_per_pixel_with_the_requested_share():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3))
    x = torch.randn((5, 3, 4, 4), generator=torch.Generator().manual_seed(2))
    mask = feature_mask(net, x, torch.tensor([0, 1, 2, 0, 1]), 0.5, None)
    assert mask.shape == x.shape
    assert torch.all(mask[:, 0] == mask[:, 1]) and torch.all(mask[:, 1] == mask[:, 2])
    assert torch.all(mask[:, 0].reshape(5, -1).sum(dim=1) == 8)


def test_intervention_replaces_the_background_and_mixes_same_concept_causal_parts():
    pool_x = torch.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0], [5.0, 0.0, 1.0]])
    pool_y = torch.tensor([0, 1, 2])
    pool_mask = torch.tensor([[True, False, False], [False, True, False], [False, False, True]])
    x = torch.tensor([[10.0, 20.0, 30.0]])
    mask = torch.tensor([[True, False, False]])
    plain = Intervention(pool_x, pool_y, pool_mask, 0.2, None)
    torch.testing.assert_close(plain(x, mask, torch.tensor([0])), torch.tensor([[3.0, 20.0, 30.0]]))
    concepts = Intervention(pool_x, pool_y, pool_mask, 0.2, concepts=[0, 0, 1])  # classes 0, 1 share a concept
    # z̄ for class 0 = causal part of the class-1 pool row = [3, 0, 5]; added on x's causal features only
    torch.testing.assert_close(concepts(x, mask, torch.tensor([0])), torch.tensor([[3.0, 20.0, 31.0]]))


def test_contrastive_boundary_loss_matches_its_formula():
    gen = torch.Generator().manual_seed(4)
    xi_f = torch.nn.functional.normalize(torch.randn(2, 4, generator=gen), dim=1)
    xi_cf = torch.nn.functional.normalize(torch.randn(2, 4, generator=gen), dim=1)
    xi_r = torch.nn.functional.normalize(torch.randn(5, 4, generator=gen), dim=1)
    class_f, class_r = torch.tensor([0, 1]), torch.tensor([1, 1, 0, 1, 0])
    tau = 0.1
    expected = []
    for j in range(2):
        negatives = [k for k in range(5) if class_r[k] != class_f[j]][:2]
        pos = torch.exp(xi_f[j] @ xi_cf[j] / tau)
        den = pos + sum(torch.exp(xi_f[j] @ xi_r[k] / tau) for k in negatives)
        expected.append(-torch.log(pos / den) / len(negatives))
    got = contrastive_boundary(xi_f, xi_cf, xi_r, class_f, class_r, tau, max_negatives=2)
    torch.testing.assert_close(got, torch.stack(expected).mean())


def test_sensitive_columns_are_found_by_value():
    s = np.array([0, 1, 1, 0])
    X = np.column_stack([np.arange(4.0), s, 1 - s])
    assert sensitive_columns(X, s) == [1]
    assert sensitive_columns(X, None) == []
