"""Counterfactual fairness with a continuous sensitive variable (OB Table 1; Grari et al.'s protocol).

Fit a regressor f(x, a) (ML, FTU, Adv, OB, SOB + MLP) on the training split and report on the test
split the MSE, the continuous CF-metric and the training time.

Counterfactuals come from an adversarial VAE (Grari et al.'s, :mod:`fairbench.methods.fairness._adversarial_vae`)
trained on the training split with the run's seed (config key ``generator``: its settings). For
``counterfactuals`` = R values ``a'_r ~ U[min a_train, max a_train]`` shared by all test rows (as
Grari's notebook), every test row is decoded under each ``a'_r``; the factual side is the row's own
reconstruction ``dec(μ(x, a, y), a)``, so ``a' = a`` changes nothing. A method's prediction runs on
these decoded features with its own transform: OB / SOB (transductive) refit on the stacked
counterfactual matrix (R·n rows, A = the a' column) as on any other matrix they transform.

``cf_metric`` uses the absolute difference (OB prose), ``cf_metric_squared`` the squared one
(Grari's code; ob.md §6.5). Adv is handed the same VAE for its penalty (as Grari's notebook); its
training time then includes the VAE's (``train_s``), like the paper's.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import torch

from ...core.errors import FairbenchError
from ...datasets import load_dataset
from ...methods.fairness._adversarial_vae import AdversarialVAE, VAESettings
from ...metrics import METRICS
from .base import TaskResult, register_task
from .base import build_model

DEFAULT_COUNTERFACTUALS = 1000
_GENERATORS: dict[str, AdversarialVAE] = {}  # per process: the methods of one table share a seed's VAE
_CACHE_SIZE = 64  # a VAE is ~100 kB; a table visits (datasets x seeds) of them, column by column


def _as_columns(s: np.ndarray) -> np.ndarray:
    return np.asarray(s, dtype=np.float64).reshape(len(s), -1)


def counterfactual_generator(config: dict[str, Any], data, settings: VAESettings) -> AdversarialVAE:
    key = json.dumps([config["dataset"], config.get("dataset_params"), config["seed"], repr(settings)], sort_keys=True,
                     default=str)
    if key not in _GENERATORS:
        if len(_GENERATORS) >= _CACHE_SIZE:
            _GENERATORS.pop(next(iter(_GENERATORS)))
        train = data.train
        _GENERATORS[key] = AdversarialVAE(settings, random_state=config["seed"]).fit(train.X, train.y, _as_columns(train.s))
    return _GENERATORS[key]


@register_task(
    "cf_continuous",
    version="1",
    description="fit f(x, a) on train; test MSE, continuous CF-metric (adversarial-VAE counterfactuals), training time",
    config_keys=("params", "dataset_params", "generator", "evaluation"),
)
def run(config: dict[str, Any]) -> TaskResult:
    # the networks are tiny: one intra-op thread is faster than two contending ones, and the
    # executor parallelises over jobs instead
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(config)
    finally:
        torch.set_num_threads(threads)


def _run(config: dict[str, Any]) -> TaskResult:
    data = load_dataset(config["dataset"], seed=config["seed"], params=config.get("dataset_params"))
    if data.train.s is None or data.task != "regression":
        raise FairbenchError(f"task cf_continuous needs a regression dataset with a sensitive variable; {data.name} is not")
    evaluation = dict(config.get("evaluation") or {})
    unknown = sorted(set(evaluation) - {"counterfactuals"})
    if unknown:
        raise FairbenchError(f"unknown evaluation settings {unknown}; known: counterfactuals")
    R = int(evaluation.get("counterfactuals", DEFAULT_COUNTERFACTUALS))
    if R < 1:
        raise FairbenchError(f"evaluation.counterfactuals must be >= 1, got {R}")
    settings = VAESettings.from_dict(config.get("generator"))
    params = dict(config.get("params", {}))
    params.setdefault("random_state", config["seed"])
    model = build_model(config["method"], params)

    train, test = data.train, data.test
    a_train, a_test = _as_columns(train.s), _as_columns(test.s)
    generator = counterfactual_generator(config, data, settings)
    uses_generator = hasattr(model, "use_generator")
    if uses_generator:
        model.use_generator(generator)
    start = time.perf_counter()
    model.fit(train.X, train.y, a_train)
    fit_seconds = time.perf_counter() - start
    train_seconds = fit_seconds + (generator.fit_seconds_ if uses_generator else 0.0)

    mse = METRICS.get("mse").fn(test.y, model.predict(test.X, a_test))
    rng = np.random.default_rng(config["seed"])
    a_new = rng.uniform(a_train.min(axis=0), a_train.max(axis=0), size=(R, a_train.shape[1]))
    factual = model.predict(generator.reconstruct(test.X, test.y, a_test), a_test)
    stacked = generator.counterfactual(test.X, test.y, a_test, a_new)
    counterfactual = model.predict(stacked, np.repeat(a_new, len(test), axis=0)).reshape(R, len(test))
    cf = METRICS.get("cf_metric_continuous").fn
    return TaskResult(
        metrics={
            "mse": mse,
            "cf_metric": cf(factual, counterfactual),
            "cf_metric_squared": cf(factual, counterfactual, cost="squared"),
            "train_time_s": train_seconds,
        },
        timings={"fit_s": fit_seconds, "train_s": train_seconds, "generator_s": generator.fit_seconds_},
        data={"dataset": data.name, "files": data.meta.get("files", {}), "n_train": len(train), "n_test": len(test)},
        info={"notes": data.meta.get("notes", []), "counterfactuals": R, "generator": repr(settings),
              "generator_bounded_features": generator.bounded_},
    )
