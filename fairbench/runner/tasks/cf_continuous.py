"""Counterfactual fairness with a continuous sensitive variable (OB Table 1; Grari et al.'s protocol).

Fit a regressor f(x, a) (ML, FTU, Adv, OB, SOB + MLP) on the training split and report on the test
split the MSE, the continuous CF-metric and the training time.

Counterfactuals come from an adversarial VAE (Grari et al.'s, :mod:`fairbench.methods.fairness._adversarial_vae`)
trained on the training split with the run's seed (config key ``generator``: its settings) in a
``cf_generator`` run of its own, a dependency that every method's run on that dataset and seed shares. For
``counterfactuals`` = R values ``a'_r ~ U[min a_train, max a_train]`` shared by all test rows (as
Grari's notebook), every test row is decoded under each ``a'_r``; the factual side is the row's own
reconstruction ``dec(μ(x, a, y), a)``, so ``a' = a`` changes nothing. A method's prediction runs on
these decoded features with its own transform: OB / SOB (transductive) refit on the stacked
counterfactual matrix (R·n rows, A = the a' column) as on any other matrix they transform.

``cf_metric`` uses the absolute difference (OB prose), ``cf_metric_squared`` the squared one
(Grari's code; ob.md §6.5). Adv is handed the same VAE for its penalty (as Grari's notebook); its
training time then includes the VAE's (``train_s``), like the paper's.

``ensemble: B`` (> 1) trains the MLP of the run's method (mlp, and OB / SOB followed by it) together
with those of the other seeds of its block ``[s − s mod B, … + B)`` in one ``cf_continuous_fit`` job, a
dependency shared by the block's runs (a batched ensemble, :mod:`fairbench.methods.learners._ensemble`:
each seed's own initialisation, minibatches and Adam state; the weights its lone fit gives). The run
then evaluates its seed's network; its fit time is its own preprocessing plus 1/B of the joint
training. A block always trains all B seeds, also when fewer are asked for. Adv trains alone.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ...core.errors import FairbenchError
from ...core.seeding import SeedStreams
from .base import Stored, TaskResult, data_summary, register_task
from .config import BASE_KEYS, RunConfig, as_dict, check_keys, positive_int
from .evaluation import Inputs, evaluate

# torch comes with the VAE and the fair predictors: imported where a run or a configuration's generator
# needs them, after its method and dataset were checked (a task module imports nothing heavy at the top)
if TYPE_CHECKING:
    from ...methods.fairness._adversarial_vae import AdversarialVAE, VAESettings

DEFAULT_COUNTERFACTUALS = 1000
# output name -> registered metric
METRICS_REPORTED = {"mse": "mse", "cf_metric": "cf_metric_continuous", "cf_metric_squared": "cf_metric_continuous_squared"}


def _as_columns(s: np.ndarray) -> np.ndarray:
    return np.asarray(s, dtype=np.float64).reshape(len(s), -1)


def _ensemble(config: dict[str, Any]) -> int:
    return positive_int("ensemble", config.get("ensemble", 1))


class _PredictorRun(RunConfig):
    @classmethod
    def checked(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The common fields of a run of a predictor whose keys are ``BASE_KEYS + cls.KEYS``."""
        check_keys("", config, BASE_KEYS + cls.KEYS)
        return cls.common(config, kinds=("predictor",))


@dataclass(frozen=True)
class CfContinuousConfig(_PredictorRun):
    KEYS = ("params", "dataset_params", "generator", "evaluation", "ensemble")

    generator: VAESettings
    counterfactuals: int
    ensemble: int  # seeds whose networks are trained together (see fit_members below); 1: each in its own job

    @classmethod
    def parse(cls, config: dict[str, Any]) -> "CfContinuousConfig":
        common = cls.checked(config)
        evaluation = as_dict("evaluation", config.get("evaluation"))
        check_keys("evaluation", evaluation, ("counterfactuals",))
        from ...methods.fairness._adversarial_vae import VAESettings

        return cls(**common, generator=VAESettings.from_dict(config.get("generator")),
                   counterfactuals=positive_int("evaluation.counterfactuals",
                                                evaluation.get("counterfactuals", DEFAULT_COUNTERFACTUALS)),
                   ensemble=_ensemble(config))

    def block_start(self) -> int:
        return self.seed - self.seed % self.ensemble

    def dependencies(self) -> dict[str, dict[str, Any]]:
        """The ``cf_generator`` run of this dataset and seed (the counterfactual model every method's run
        shares) and, when the method can be fitted that way and ``ensemble`` > 1, the ``cf_continuous_fit``
        run that trains this run's network with those of the other seeds of its block."""
        from ...methods.fairness._fair_predictors import fits_together

        data = {"dataset": self.dataset, "dataset_params": self.dataset_params or None}
        needs = {"generator": {"task": "cf_generator", "method": "adv", **data, "generator": asdict(self.generator),
                               "seed": self.seed}}
        if self.ensemble > 1 and fits_together(self.method.build()):
            needs["fit"] = {"task": "cf_continuous_fit", "method": self.method.name, "params": self.method.params or None,
                            **data, "ensemble": self.ensemble, "seed": self.block_start()}
        return needs


@dataclass(frozen=True)
class CfPartConfig(_PredictorRun):
    """A run that makes a part cf_continuous runs share: the block of seeds ``[seed, seed + ensemble)`` of
    one method (``cf_continuous_fit``), or the counterfactual model of one dataset and seed
    (``cf_generator``, whose ``method`` is Adv, the model's owner)."""

    KEYS = ("params", "dataset_params", "ensemble", "generator")

    ensemble: int
    generator: VAESettings

    @classmethod
    def parse(cls, config: dict[str, Any]) -> "CfPartConfig":
        from ...methods.fairness._adversarial_vae import VAESettings

        return cls(**cls.checked(config), ensemble=_ensemble(config),
                   generator=VAESettings.from_dict(config.get("generator")))

    def members(self) -> range:
        return range(self.seed, self.seed + self.ensemble)


def _member_key(seed: int, name: str) -> str:
    return f"seed{seed}_{name}"


@register_task("cf_continuous_fit", version="1", config=CfPartConfig,
               description="train one method's networks of a block of seeds together (a batched ensemble, equal "
                           "to fitting each seed alone); cf_continuous runs with ensemble > 1 evaluate them")
def fit_block(config: CfPartConfig, deps: Mapping[str, Stored]) -> TaskResult:
    del deps
    from ...datasets import load_dataset
    from ...methods.fairness._fair_predictors import fit_members, fitted_regressor

    models, data = [], []
    for seed in config.members():
        streams = SeedStreams(seed)
        split = load_dataset(config.dataset, seed=streams.seed("split"), params=config.dataset_params).train
        models.append(config.method.build(random_state=streams.seed("method")))
        data.append((split.X, split.y, _as_columns(split.s)))
    start = time.perf_counter()
    seconds = fit_members(models, data)
    arrays = {_member_key(seed, name): array for seed, model in zip(config.members(), models)
              for name, array in fitted_regressor(model).network_arrays().items()}
    return TaskResult(metrics={}, timings={"fit_s": time.perf_counter() - start}, arrays=arrays,
                      info={"members": list(config.members()),
                            "member_fit_s": {str(seed): s for seed, s in zip(config.members(), seconds)}})


@register_task("cf_generator", version="1", config=CfPartConfig,
               description="train the adversarial VAE of cf_continuous on a dataset's training split (one per "
                           "dataset and seed, shared by every method's run)")
def fit_generator(config: CfPartConfig, deps: Mapping[str, Stored]) -> TaskResult:
    del deps
    from ...methods.fairness._adversarial_vae import AdversarialVAE

    data = config.load_data()
    train = data.train
    generator = AdversarialVAE(config.generator, random_state=config.streams.seed("generator")).fit(
        train.X, train.y, _as_columns(train.s))
    return TaskResult(metrics={}, timings={"fit_s": generator.fit_seconds_}, arrays=generator.state_arrays(),
                      data=data_summary(data), info={"generator": repr(config.generator)})


def stored_generator(config: CfContinuousConfig, stored: Stored) -> AdversarialVAE:
    from ...methods.fairness._adversarial_vae import AdversarialVAE

    return AdversarialVAE.from_state_arrays(config.generator, config.streams.seed("generator"), dict(stored.arrays),
                                            stored.record["timings"]["fit_s"])


def _fitted_member(model: Any, config: CfContinuousConfig, fit: Stored, train, a_train) -> float:
    """Set ``model`` to its fit in the block ``fit`` (its preprocessing refitted here, deterministically);
    returns that fit's seconds (its own preprocessing and its share of the joint training)."""
    prefix = _member_key(config.seed, "")
    arrays = {name[len(prefix):]: array for name, array in fit.arrays.items() if name.startswith(prefix)}
    if not arrays:
        raise FairbenchError(f"the block fit of seeds {fit.record['info'].get('members')} has no network for seed "
                             f"{config.seed}")
    from ...methods.fairness._fair_predictors import fitted_regressor

    if hasattr(model, "fit_preprocessor"):
        model.fit_preprocessor(train.X, train.y, a_train)
    fitted_regressor(model).with_network_arrays(arrays)
    return float(fit.record["info"]["member_fit_s"][str(config.seed)])


@register_task("cf_continuous", version="1", config=CfContinuousConfig,
               description="fit f(x, a) on train; test MSE, continuous CF-metric (adversarial-VAE counterfactuals), "
                           "training time", needs=lambda config: config.dependencies())
def run(config: CfContinuousConfig, deps: Mapping[str, Stored]) -> TaskResult:
    data = config.load_data()
    if data.train.s is None or data.task != "regression":
        raise FairbenchError(f"task cf_continuous needs a regression dataset with a sensitive variable; {data.name} is not")
    R = config.counterfactuals
    model = config.method.build(random_state=config.streams.seed("method"))

    train, test = data.train, data.test
    a_train, a_test = _as_columns(train.s), _as_columns(test.s)
    generator = stored_generator(config, deps["generator"])
    uses_generator = hasattr(model, "use_generator")
    if uses_generator:
        model.use_generator(generator)
    if "fit" in deps:  # trained with the other seeds of its block (cf_continuous_fit)
        fit_seconds = _fitted_member(model, config, deps["fit"], train, a_train)
    else:
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
        info={"notes": data.meta.get("notes", []), "counterfactuals": R,
              "fitted_with_seeds": deps["fit"].record["info"].get("members") if "fit" in deps else [config.seed], "generator": repr(config.generator),
              "generator_bounded_features": generator.bounded_},
    )
