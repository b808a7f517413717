"""Batched ensembles (ob:table1's MLPs, issue 18): networks trained together equal the one-by-one fits (to float
tolerance; bit for bit for the table's shapes on the project's CPU, which the block test below sees as equal metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fairbench.methods.fairness._fair_predictors import fit_members
from fairbench.methods.fairness.ob import OB
from fairbench.methods.fairness.sob import SOB
from fairbench.methods.learners.mlp import MLPRegressor, fit_together, relu_network

EPOCHS, BATCH, LR = 4, 32, 1e-3


def lone_fit(X: np.ndarray, y: np.ndarray, seed: int) -> nn.Sequential:
    """The plain one-network loop (what MLPRegressor.fit ran before ensembles): nn.Sequential, Adam, MSE,
    one torch.Generator for the minibatch order."""
    x = torch.as_tensor(np.asarray(X, dtype=np.float32))
    target = torch.as_tensor(np.asarray(y, dtype=np.float32).reshape(-1, 1))
    network = relu_network(x.shape[1], seed)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(network.parameters(), lr=LR)
    for _ in range(EPOCHS):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), BATCH):
            rows = order[start : start + BATCH]
            optimiser.zero_grad()
            nn.MSELoss()(network(x[rows]), target[rows]).backward()
            optimiser.step()
    return network


def members(count: int, n: int = 150, p: int = 24) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Different data per member (as the synthetic table's seeds); n is not a multiple of the batch size."""
    out = []
    for k in range(count):
        rng = np.random.default_rng(k)
        X, a = rng.uniform(size=(n, p)), rng.uniform(size=(n, 1))
        out.append((X, X @ rng.normal(size=p) + 0.5 * a[:, 0], a))
    return out


def assert_same_network(fitted: nn.Module, reference: nn.Module) -> None:
    for together, single in zip(fitted.parameters(), reference.parameters()):
        torch.testing.assert_close(together, single, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [7, 24])  # 24: the synthetic table's width; 7 takes another BLAS kernel (see _ensemble)
def test_ensemble_fit_equals_one_by_one_fits(p):
    data, seeds = members(3, p=p), [0, 5, 11]
    models = [MLPRegressor(use_sensitive=False, epochs=EPOCHS, batch_size=BATCH, lr=LR, random_state=s) for s in seeds]
    fit_together(models, data)
    for model, (X, y, _), seed in zip(models, data, seeds):
        assert_same_network(model.net_, lone_fit(X, y, seed))  # each member's own init, batches and Adam state
    # the members differ from each other (the check above is not comparing one network with itself)
    assert not torch.allclose(models[0].net_[0].weight, models[1].net_[0].weight)
    # and MLPRegressor.fit (an ensemble of one) is the plain loop
    X, y, _ = data[1]
    fitted = MLPRegressor(use_sensitive=False, epochs=EPOCHS, batch_size=BATCH, lr=LR, random_state=5).fit(X, y)
    assert_same_network(fitted.net_, lone_fit(X, y, 5))


def test_preprocessed_members_predict_as_their_own_fits():
    """OB / SOB / ML members of two seeds: ML's input is one column wider, so it trains in its own group."""
    data = members(2, p=6)
    schedule = {"epochs": EPOCHS, "batch_size": BATCH, "lr": LR}

    def build(seed):
        return [OB(k=3, **schedule, random_state=seed), SOB(k=2, t=1.5, **schedule, random_state=seed),
                MLPRegressor(use_sensitive=True, **schedule, random_state=seed)]

    together = [model for seed in (0, 1) for model in build(seed)]
    seconds = fit_members(together, [data[seed] for seed in (0, 1) for _ in range(3)])
    assert len(seconds) == 6 and all(s > 0 for s in seconds)
    for model, seed in zip(together, (0, 0, 0, 1, 1, 1)):
        X, y, a = data[seed]
        alone = next(m for m in build(seed) if type(m) is type(model)).fit(X, y, a)
        np.testing.assert_array_equal(model.predict(X, a), alone.predict(X, a))


@pytest.mark.needs_data("crime")
def test_cf_continuous_cells_trained_as_a_block_give_the_lone_runs_numbers(fb_env, cli):
    tiny = ["--set", "epochs=2", "--set", "generator.epochs=1", "--set", "generator.adversary_steps=1",
            "--set", "generator.first_epoch_adversary_steps=1", "--set", "evaluation.counterfactuals=3"]
    results = {}
    for ensemble in (1, 3):
        code, out, err = cli("run", "--method", "sob", "--dataset", "crime", "--seed", "1", "--set", "k=3",
                             "--set", "t=2.0", "--set", f"ensemble={ensemble}", *tiny)
        assert code == 0, err
        record_dir = next(line.split("record:", 1)[1].strip() for line in out.splitlines() if line.startswith("record:"))
        record = json.loads((Path(record_dir) / "record.json").read_text())
        assert record["info"]["fitted_with_seeds"] == ([1] if ensemble == 1 else [0, 1, 2])
        results[ensemble] = [line for line in out.splitlines() if "mse" in line or "cf_metric" in line]
    assert results[1] == results[3] and results[1]


def test_table1_plans_one_vae_per_dataset_and_seed_and_one_mlp_block_per_column():
    """The VAE is trained once per (dataset, seed) and shared by all six columns; each MLP column's 10 seeds
    are one cf_continuous_fit job; Adv has none (it trains alone)."""
    from collections import Counter

    from fairbench.runner.plan import plan_table
    from fairbench.specs import load_table

    for scale in ("paper", "mini"):
        jobs = plan_table(load_table("ob:table1"), scale=scale).jobs
        tasks = Counter(job.config["task"] for job in jobs)
        assert tasks == {"cf_continuous": 120, "cf_generator": 20, "cf_continuous_fit": 8}
        fits = [job for job in jobs if job.config["task"] == "cf_continuous_fit"]
        assert sorted({job.config["method"] for job in fits}) == ["mlp", "ob", "sob"] and {job.seed for job in fits} == {0}
        for job in jobs:
            if job.config["task"] == "cf_continuous":
                names = {name for name, _ in job.needs}
                assert names == ({"generator"} if job.config["method"] == "adv" else {"generator", "fit"})


def test_the_stored_vae_rebuilds_the_same_counterfactuals():
    from fairbench.methods.fairness._adversarial_vae import AdversarialVAE, VAESettings

    rng = np.random.default_rng(3)
    a = rng.uniform(size=(120, 1))
    X, y = rng.normal(size=(120, 5)) + a, rng.normal(size=120)  # unbounded features: the linear output
    settings = VAESettings(epochs=2, adversary_steps=1, first_epoch_adversary_steps=1)
    fitted = AdversarialVAE(settings, random_state=4).fit(X, y, a)
    rebuilt = AdversarialVAE.from_state_arrays(settings, 4, fitted.state_arrays(), fitted.fit_seconds_)
    a_new = np.linspace(0, 1, 3)[:, None]
    np.testing.assert_array_equal(rebuilt.counterfactual(X, y, a, a_new), fitted.counterfactual(X, y, a, a_new))
    np.testing.assert_array_equal(rebuilt.reconstruct(X, y, a), fitted.reconstruct(X, y, a))
    assert rebuilt.bounded_ is False and rebuilt.fit_seconds_ == fitted.fit_seconds_
