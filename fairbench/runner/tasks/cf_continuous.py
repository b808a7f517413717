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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ...core.errors import FairbenchError
from .base import Stored, TaskResult, data_summary, register_task
from .config import BASE_KEYS, RunConfig, as_dict, check_keys, positive_int
from .evaluation import Inputs, evaluate

if TYPE_CHECKING:  # torch: imported when a configuration's generator is checked, after its method and dataset
    from ...methods.fairness._adversarial_vae import AdversarialVAE, VAESettings

DEFAULT_COUNTERFACTUALS = 1000
_GENERATORS: dict[str, AdversarialVAE] = {}  # per process: the methods of one table share a seed's VAE
_CACHE_SIZE = 64  # a VAE is ~100 kB; a table visits (datasets x seeds) of them, column by column
# output name -> registered metric
METRICS_REPORTED = {"mse": "mse", "cf_metric": "cf_metric_continuous", "cf_metric_squared": "cf_metric_continuous_squared"}


def _as_columns(s: np.ndarray) -> np.ndarray:
    return np.asarray(s, dtype=np.float64).reshape(len(s), -1)


@dataclass(frozen=True)
class CfContinuousConfig(RunConfig):
    KEYS = ("params", "dataset_params", "generator", "evaluation")

    generator: VAESettings
    counterfactuals: int

    @classmethod
    def parse(cls, config: dict[str, Any]) -> "CfContinuousConfig":
        check_keys("", config, BASE_KEYS + cls.KEYS)
        common = cls.common(config, kinds=("predictor",))
        evaluation = as_dict("evaluation", config.get("evaluation"))
        check_keys("evaluation", evaluation, ("counterfactuals",))
        from ...methods.fairness._adversarial_vae import VAESettings

        return cls(**common, generator=VAESettings.from_dict(config.get("generator")),
                   counterfactuals=positive_int("evaluation.counterfactuals",
                                                evaluation.get("counterfactuals", DEFAULT_COUNTERFACTUALS)))


def counterfactual_generator(config: CfContinuousConfig, data) -> AdversarialVAE:
    seed = config.streams.seed("generator")
    key = json.dumps([config.dataset, config.dataset_params or None, seed, repr(config.generator)], sort_keys=True,
                     default=str)
    if key not in _GENERATORS:
        from ...methods.fairness._adversarial_vae import AdversarialVAE

        if len(_GENERATORS) >= _CACHE_SIZE:
            _GENERATORS.pop(next(iter(_GENERATORS)))
        train = data.train
        _GENERATORS[key] = AdversarialVAE(config.generator, random_state=seed).fit(
            train.X, train.y, _as_columns(train.s))
    return _GENERATORS[key]


@register_task("cf_continuous", version="1", config=CfContinuousConfig,
               description="fit f(x, a) on train; test MSE, continuous CF-metric (adversarial-VAE counterfactuals), "
                           "training time")
def run(config: CfContinuousConfig, deps: Mapping[str, Stored]) -> TaskResult:
    data = config.load_data()
    if data.train.s is None or data.task != "regression":
        raise FairbenchError(f"task cf_continuous needs a regression dataset with a sensitive variable; {data.name} is not")
    R = config.counterfactuals
    model = config.method.build(random_state=config.streams.seed("method"))

    train, test = data.train, data.test
    a_train, a_test = _as_columns(train.s), _as_columns(test.s)
    generator = counterfactual_generator(config, data)
    uses_generator = hasattr(model, "use_generator")
    if uses_generator:
        model.use_generator(generator)
    start = time.perf_counter()
    model.fit(train.X, train.y, a_train)
    fit_seconds = time.perf_counter() - start
    train_seconds = fit_seconds + (generator.fit_seconds_ if uses_generator else 0.0)
    predicted = model.predict(test.X, a_test)  # before the counterfactual matrices, as the tables were made

    rng = config.streams.numpy("evaluation")
    a_new = rng.uniform(a_train.min(axis=0), a_train.max(axis=0), size=(R, a_train.shape[1]))
    factual = model.predict(generator.reconstruct(test.X, test.y, a_test), a_test)
    stacked = generator.counterfactual(test.X, test.y, a_test, a_new)
    counterfactual = model.predict(stacked, np.repeat(a_new, len(test), axis=0)).reshape(R, len(test))
    inputs = Inputs({"test": test}, dataset=data.name, values={
        "y": test.y, "pred": predicted, "factual": factual, "counterfactual": counterfactual})
    return TaskResult(
        metrics={**evaluate(METRICS_REPORTED, inputs), "train_time_s": train_seconds},
        timings={"fit_s": fit_seconds, "train_s": train_seconds, "generator_s": generator.fit_seconds_},
        data=data_summary(data),
        info={"notes": data.meta.get("notes", []), "counterfactuals": R, "generator": repr(config.generator),
              "generator_bounded_features": generator.bounded_},
    )
