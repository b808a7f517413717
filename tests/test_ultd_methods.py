"""The ULTD Table 1 recommenders and the ``recommend`` task (ultd.md §2, §4, §5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fairbench.core.determinism import seed_everything
from fairbench.core.errors import FairbenchError
from fairbench.datasets import Split
from fairbench.methods import METHODS
from fairbench.methods.recsys._mf import MF, Pairs, RecData
from fairbench.methods.recsys.ultd import ULTDJoint, ULTDTwoPhase, UnlearningRate
from fairbench.metrics.ranking import pooled_auc
from fairbench.runner.tasks.recommend import binarise, split_unbiased

RECOMMENDERS = ["mf", "ips", "dr", "dr-jl", "escm2-dr", "cause", "kdcrec", "ltd", "autodebias", "res-ips", "res-dr",
                "ultd-tp", "ultd-jl"]
FAST = {"emb_dim": 4, "batch_size": 64, "max_epochs": 4, "patience": 2}


@pytest.fixture(scope="module")
def toy():
    """30 users x 40 items with low-rank preferences; biased part self-selected towards positives."""
    rng = np.random.default_rng(0)
    nu, ni = 30, 40
    truth = (rng.normal(size=(nu, 3)) @ rng.normal(size=(3, ni)) + rng.normal(0.5, 1, size=(nu, 1))) > 0.5
    prop = np.where(truth, 0.45, 0.12)
    observed = rng.random((nu, ni)) < prop
    users, items = np.nonzero(observed)
    rest_u, rest_i = np.nonzero(~observed)
    pick = rng.permutation(len(rest_u))[:300]
    unbiased = np.column_stack([rest_u[pick], rest_i[pick]])
    return {
        "n_users": nu, "n_items": ni, "X": np.column_stack([users, items]), "y": truth[users, items].astype(int),
        "X_unbiased": unbiased[:60], "y_unbiased": truth[unbiased[:60, 0], unbiased[:60, 1]].astype(int),
        "X_valid": unbiased[60:120], "y_valid": truth[unbiased[60:120, 0], unbiased[60:120, 1]].astype(int),
        "X_test": unbiased[120:], "y_test": truth[unbiased[120:, 0], unbiased[120:, 1]].astype(int),
    }


def _fit(name, toy, **params):
    entry = METHODS.get(name)
    model = entry.factory(**{"random_state": 0, **FAST, **params})
    use_a = getattr(model, "uses_unbiased", False)
    return model.fit(toy["X"], toy["y"], n_users=toy["n_users"], n_items=toy["n_items"],
                     X_unbiased=toy["X_unbiased"] if use_a else None, y_unbiased=toy["y_unbiased"] if use_a else None,
                     X_valid=toy["X_valid"], y_valid=toy["y_valid"], monitor=pooled_auc)


@pytest.mark.parametrize("name", RECOMMENDERS)
def test_every_recommender_fits_predicts_and_is_deterministic(name, toy):
    entry = METHODS.get(name)
    assert entry.kind == "recommender" and entry.task == "recommend" and "ultd" in entry.papers
    model = _fit(name, toy, random_state=3)
    proba = model.predict_proba(toy["X_test"])
    assert proba.shape == (len(toy["X_test"]), 2)
    assert np.all((proba >= 0) & (proba <= 1)) and np.allclose(proba.sum(1), 1)
    info = model.fit_info_
    assert 1 <= info["best_epoch"] <= info["epochs_run"] <= FAST["max_epochs"]
    assert len(info["valid_history"]) == info["epochs_run"]
    seed_everything(7)  # the global generators' state must not matter
    torch.rand(5)
    again = _fit(name, toy, random_state=3).predict_proba(toy["X_test"])
    np.testing.assert_array_equal(proba, again)


def test_mf_learns_the_toy_preferences(toy):
    seed_everything(0)
    model = _fit("mf", toy, emb_dim=8, max_epochs=60, patience=60, lr=0.02)
    assert pooled_auc(toy["y_test"], model.predict_proba(toy["X_test"])[:, 1]) > 0.65


def test_methods_needing_unbiased_data_refuse_without_it(toy):
    for name in ("cause", "kdcrec", "ltd", "autodebias", "res-ips", "res-dr", "ultd-jl", "ultd-tp"):
        model = METHODS.get(name).factory(**FAST)
        assert model.uses_unbiased
        with pytest.raises(ValueError, match="unbiased"):
            model.fit(toy["X"], toy["y"], n_users=toy["n_users"], n_items=toy["n_items"])
    for name in ("mf", "ips", "dr", "dr-jl", "escm2-dr"):
        assert not METHODS.get(name).factory(**FAST).uses_unbiased


def test_bad_inputs_raise(toy):
    model = METHODS.get("mf").factory(**FAST)
    with pytest.raises(ValueError, match="binary"):
        model.fit(toy["X"], toy["y"] * 3, n_users=toy["n_users"], n_items=toy["n_items"])
    with pytest.raises(ValueError, match="ids outside"):
        model.fit(toy["X"], toy["y"], n_users=5, n_items=toy["n_items"])
    for name, bad in (("ultd-jl", {"la_missing": "nope"}), ("ltd", {"ltd_variant": "nope"}), ("mf", {"loss": "l1"})):
        with pytest.raises(FairbenchError, match="nope|l1"):  # checked when fitting; the constructor only stores
            _fit(name, toy, **bad)


def test_unlearning_rate_is_platt_scaling_and_order_preserving():
    torch.manual_seed(0)
    for layers in (1, 2, 3):
        rate = UnlearningRate(4, layers=layers, bias_init=-2.0)
        with torch.no_grad():
            if layers == 1:
                rate.raw_scale.copy_(torch.tensor([-3.0, 0.0, 1.0, 5.0]))
        users = torch.tensor([0, 1, 2, 3])
        low, high = rate(users, torch.full((4,), 0.1)), rate(users, torch.full((4,), 0.9))
        assert torch.all(high > low) and torch.all((low > 0) & (high < 1))  # s_u > 0: monotone in L_A(u)
    rate = UnlearningRate(4, layers=1, bias_init=-2.0)
    la = torch.tensor([0.0, 0.5, 1.0, 2.0])
    expected = torch.sigmoid(torch.nn.functional.softplus(torch.zeros(4)) * la - 2.0)
    torch.testing.assert_close(rate(torch.arange(4), la), expected)
    fixed = UnlearningRate(4, trainable=False, bias_init=-1.0)
    torch.testing.assert_close(fixed(torch.arange(4), la), torch.sigmoid(la - 1.0))
    assert not list(fixed.parameters())


def _rec_data(toy) -> RecData:
    return RecData(toy["n_users"], toy["n_items"], Pairs.from_arrays(toy["X"], toy["y"]),
                   Pairs.from_arrays(toy["X_unbiased"], toy["y_unbiased"]), Pairs.from_arrays(toy["X_valid"], toy["y_valid"]))


def test_ultd_user_loss_on_unbiased_data_and_missing_users(toy):
    seed_everything(0)
    data = _rec_data(toy)
    model = ULTDJoint(**FAST)
    model._build(data)
    users = torch.arange(toy["n_users"])
    la, has = model._la(data, users)
    with torch.no_grad():
        err = (torch.sigmoid(model.model(data.unbiased.users, data.unbiased.items)) - data.unbiased.labels).pow(2)
    for u in range(toy["n_users"]):
        mask = data.unbiased.users == u
        if mask.any():
            assert has[u] and la[u] == pytest.approx(float(err[mask].mean()), rel=1e-5)
        else:
            assert not has[u] and la[u] == pytest.approx(float(err.mean()), rel=1e-5)  # global_mean
    assert (~has).any()
    erm = ULTDJoint(la_missing="erm", **FAST)
    erm._build(data)
    alpha = erm._alpha(data, users)
    assert torch.all(alpha[~has] == 0) and torch.all(alpha[has] > 0)


def test_ultd_pseudo_labels_maximise_the_error(toy):
    seed_everything(0)
    data = _rec_data(toy)
    model = ULTDJoint(lam=1e-4, **{**FAST, "lr": 0.05})
    model._build(data)
    users, items = torch.arange(toy["n_users"]).repeat_interleave(toy["n_items"]), torch.arange(toy["n_items"]).repeat(toy["n_users"])

    def gap():
        with torch.no_grad():
            return float((torch.sigmoid(model.model(users, items)) - torch.sigmoid(model.pseudo_model(users, items))).pow(2).mean())

    before = gap()
    for _ in range(200):
        model._g_step(data, 128)
    assert gap() > before + 0.2


def test_ultd_two_phase_freezes_the_pseudo_label_model(toy):
    seed_everything(0)
    model = ULTDTwoPhase(g_epochs=2, **FAST)
    data = _rec_data(toy)
    model._build(data)
    frozen = {k: v.clone() for k, v in model.pseudo_model.state_dict().items()}
    for _ in range(2):
        model._train_epoch(data)
    for key, value in model.pseudo_model.state_dict().items():
        torch.testing.assert_close(value, frozen[key])
    assert "phase0_best_epoch" in model.diagnostics_
    seed_everything(0)
    fitted = _fit("ultd-jl", toy)
    assert fitted.fit_info_["alpha_history"] and 0 < fitted.fit_info_["alpha_history"][-1]["alpha_mean"] < 1


def test_lookahead_matches_an_sgd_step():
    from fairbench.methods.recsys._debias import lookahead_weights

    torch.manual_seed(0)
    model = MF(5, 6, 3, bias=True)
    users, items = torch.tensor([0, 1, 4]), torch.tensor([2, 5, 0])
    loss = model(users, items).pow(2).mean()
    weights = lookahead_weights(model, loss, 0.5)
    grads = torch.autograd.grad(model(users, items).pow(2).mean(), list(model.parameters()))
    for (name, param), grad in zip(model.named_parameters(), grads):
        torch.testing.assert_close(weights[name], param - 0.5 * grad)


def test_split_unbiased_is_the_5_5_90_split():
    n = 4640
    split = Split(X=np.column_stack([np.arange(n) % 290, np.arange(n) % 300]), y=np.arange(n) % 5 + 1,
                  index=np.arange(n))
    a, v, t = split_unbiased(split, seed=0)
    assert (len(a), len(v), len(t)) == (232, 232, 4176)
    ids = np.concatenate([a.index, v.index, t.index])
    assert len(np.unique(ids)) == n
    a2, _, _ = split_unbiased(split, seed=0)
    a3, _, _ = split_unbiased(split, seed=1)
    np.testing.assert_array_equal(a.index, a2.index)
    assert not np.array_equal(a.index, a3.index)
    with pytest.raises(FairbenchError):
        split_unbiased(split, 0, train=0.6, valid=0.5)
    np.testing.assert_array_equal(binarise(np.array([1, 2, 3, 4, 5]), 3), [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(binarise(np.array([1.99, 2.0, 3.5]), 2), [0, 1, 1])


@pytest.mark.skipif(not hasattr(torch, "_fused_adam_"), reason="torch without a fused CPU Adam")
def test_fused_adam_updates_equal_torch_fused_adam_bit_for_bit():
    """The recommenders' lean Adam is torch.optim.Adam(fused=True) step for step, including a
    parameter that gets no gradient in some steps (skipped: no state update, no step count)."""
    from fairbench.methods.recsys._mf import FusedAdam

    torch.manual_seed(0)
    ours = [torch.randn(7, 3, requires_grad=True), torch.randn(5, requires_grad=True)]
    theirs = [p.detach().clone().requires_grad_(True) for p in ours]
    lean = FusedAdam(ours, lr=0.01, weight_decay=1e-4)
    reference = torch.optim.Adam(theirs, lr=0.01, weight_decay=1e-4, fused=True)
    for n in range(12):
        target = torch.randn(7, 3)
        for params, optimizer in ((ours, lean), (theirs, reference)):
            optimizer.zero_grad(set_to_none=True)
            loss = (params[0] - target).pow(2).sum()
            if n % 3:  # the second parameter takes part in two steps of three
                loss = loss + params[1].sin().sum()
            loss.backward()
            optimizer.step()
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    assert lean.state[1][0] == float(reference.state[theirs[1]]["step"]) == 8
