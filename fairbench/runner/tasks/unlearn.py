"""Unlearning experiments: train (or reuse) an original model, delete rows, unlearn, evaluate.

Task ``unlearn`` — a cell's run config::

    method: <unlearner>            # e.g. fair_unlearning, newton, retrain, full_training, sisa
    params: {...}                  # the unlearner's parameters
    model: {method: <learner>, params: {...}}    # the original model (trained by task train_base, cached)
    dataset: name@variant, dataset_params: {...}
    protocol: {name: uniform | subgroup | ..., <protocol parameters>, size: <m>}   # make_deletion
    redraw: []                     # what the seed redraws besides the deletion: split, noise
    reference: retrain | none      # the exact-unlearning oracle for ‖θ − θ_ref‖ and its timing
                                   # (or {method: retrain, params: {epochs: 10}})
    metrics: [...]                 # registered metric names (default: DEFAULT_METRICS)
    metric_options: {name: {...}}  # keyword options of a metric, e.g. cobum_recon's coefficients
    leakage: {delta: 1e-4}         # optional: certified-removal ε of a perturbed linear model

Seeds (:mod:`fairbench.core.seeding`): the ``deletion`` stream draws the forget set, ``unlearner``
is the unlearner's ``random_state``, ``evaluation`` seeds the MIA attackers. By default (``redraw:
[]``) the ``split`` and ``init`` streams (the split, the original model's initialisation and
objective-perturbation noise) are held at seed 0, so the repeats of a cell are deletion draws from
one trained model (the fairunlearn protocol); ``redraw: [noise]`` also frees ``init`` (and refits),
``[split, noise]`` redraws everything. ``protocol.size`` gives m directly for protocols whose
fraction is of the training set.

Dependencies: the original model is the ``train_base`` run this task declares in ``needs``
(``original``); the runner plans and runs it first and hands its stored model and record in. The
reference model is the ``reference_unlearn`` run (``reference``) of the same original model,
dataset, protocol, redraw and seed: it draws the same deletion (the ``deletion`` stream) and
unlearns it with the reference (built with the ``unlearner`` stream), so every method compared on
one (model, deletion) shares one reference retrain. A run whose method is its own reference
(``retrain``) compares with itself and needs none. The per-request references of a stream
(``sequential``) are still refitted in the run.

Timings (also in ``metrics`` so tables can show them): ``precompute_seconds`` (an unlearner's
optional one-off ``prepare(model, train)``, independent of the deletion), ``unlearn_seconds`` (the
``unlearn`` call), ``reference_seconds`` (retraining the oracle, from the shared reference run's
record), ``train_seconds`` (the original fit, from its cached record).
With a reference, the distance to it: ``l2_to_retrain`` (parameters, where both models have a parameter
vector of one shape), ``disagreement_to_retrain`` and ``kl_to_retrain`` (test predictions, any model). ``unlearn_peak_mb`` is the traced peak memory of the ``unlearn`` call,
recorded when the run traces memory (``FAIRBENCH_TRACE_MEMORY=1``; tracing slows Python-bound unlearners down, so
it is off by default and ``unlearn_seconds`` is untraced).
An unlearner's ``report_`` dict (set by ``unlearn``) is stored as metrics ``unlearner_<key>``.

Besides the evaluated model's predictions, metrics can ask for the original model's and the reference's
(``pred_original``, ``proba_reference``, ...: cobum's % drops of the original's fairness gaps and its
Co-BUM score), the dataset's bias description ``fairness`` (``meta["fairness"]``), the timings and
``is_original`` (the unlearner returned the original model itself: cobum's Baseline row, whose time is the
training's). An unlearner that names ``reference`` or ``dataset_meta`` in ``receives`` is handed the shared
reference model (cobum's SCRUB: its teacher, trained before and outside the unlearning time) or the
dataset's ``meta`` before ``prepare``.

A protocol that returns a stream of requests (``sequential``: ``Deletion.batches``) is applied one
request after another to the same (prepared once) unlearner, each call from the model the previous
returned; the usual metrics are those of the final model, ``unlearn_seconds`` is the sum of the calls,
and after each request i: ``unlearn_seconds_step_<i>``, ``l2_to_retrain_step_<i>`` (to the reference
refitted on the rows left then), ``grad_residual_step_<i>`` and ``residual_bound_step_<i>`` (Guo
et al.'s data-dependent bound for the step from the previous model, for a linear model).
The forget indices (positions in the training split) and their source row ids are stored as arrays.

Task ``train_base`` fits a learner on the training split, passing the sensitive attribute or row
ids when its ``fit`` declares them (:mod:`fairbench.methods._fitting`); its records cache the models.
"""

from __future__ import annotations

import hashlib
import math
import time
import tracemalloc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ... import catalog as sources
from ...core.errors import FairbenchError
from .base import Stored, TaskResult, data_summary, register_task
from .config import (
    BASE_KEYS, MethodSpec, ProtocolSpec, RunConfig, as_dict, check_keys, metric_names, refuse,
)
from .evaluation import MODEL_ROLES, ROLE_INPUTS, Inputs, evaluate, provided

if TYPE_CHECKING:  # planning imports this module: the methods, protocols and metrics load when a run needs them
    from ...datasets.base import Split

DEFAULT_METRICS = (
    "test_accuracy", "retain_accuracy", "forget_accuracy", "balanced_accuracy",
    "average_abs_odds_difference", "demographic_parity_difference", "equal_opportunity_difference",
    "subgroup_accuracy",
)
REDRAWABLE = ("split", "noise")
HELD_BY_DEFAULT = {"split": "split", "noise": "init"}  # redraw name -> the seed stream it frees
RUN_VALUES = ("fairness", "unlearn_seconds", "train_seconds", "reference_seconds", "is_original")
ROLE_VALUES = tuple(f"{what}_{role}" for role in MODEL_ROLES for what in ROLE_INPUTS)
UNLEARN_INPUTS = provided(split_inputs=True, values=ROLE_VALUES + RUN_VALUES)


def _inner_learner(params: Any) -> tuple[str, ...]:
    """A learner named inside a learner's parameters (``learner: dnn`` of a SISA ensemble's shards)."""
    inner = params.get("learner") if isinstance(params, dict) else None
    return (str(inner),) if inner else ()


def _check_inner_learner(outer: MethodSpec, where: str) -> None:
    """A learner named in a learner's parameters (SISA's shards) takes the parameters the outer one
    does not: they are checked against the inner learner's signature."""
    for inner in _inner_learner(outer.params):
        extra = {k: v for k, v in outer.params.items() if k not in outer.accepted}
        MethodSpec.parse(inner, extra, where=f"{where}.learner", kinds=("learner",),
                         params_where=where)


@dataclass(frozen=True)
class TrainBaseConfig(RunConfig):
    KEYS = ("params", "dataset_params")

    @classmethod
    def parse(cls, config: dict[str, Any]) -> "TrainBaseConfig":
        check_keys("", config, BASE_KEYS + cls.KEYS)
        common = cls.common(config, kinds=("learner",))
        _check_inner_learner(common["method"], "params")
        return cls(**common)


@register_task(
    "train_base",
    version="1",
    description="fit a learner on the training split (with s / row ids when its fit takes them); keep the model",
    config=TrainBaseConfig,
    components=lambda config: _inner_learner(config.get("params")),
)
def train_base(config: TrainBaseConfig, deps: Mapping[str, Stored]) -> TaskResult:
    from ...methods._fitting import fit_on

    data = config.load_data()
    model = config.method.build(random_state=config.streams.seed("init"))
    start = time.perf_counter()
    fit_on(model, data.train)
    seconds = time.perf_counter() - start
    metrics = {f"{name}_accuracy": _accuracy(split, model) for name, split in (("train", data.train), ("test", data.test))}
    grad_norm = getattr(model, "grad_norm_", None)
    if grad_norm is not None:
        metrics["grad_norm"] = grad_norm
    return TaskResult(
        metrics={**metrics, "train_seconds": seconds},
        timings={"fit_s": seconds},
        data=data_summary(data),
        info={"grad_norm": grad_norm, "n_iter": getattr(model, "n_iter_", None)},
        objects={"model": model},
    )


@dataclass(frozen=True)
class DeletionConfig(RunConfig):
    """What a run that deletes rows from an original model is configured by (tasks ``unlearn`` and
    ``reference_unlearn``): the model, the deletion protocol and what the seed redraws."""

    KEYS = ("params", "model", "dataset_params", "protocol", "redraw")

    model: MethodSpec  # the original model's learner, with the parameters the cell gives it
    protocol: ProtocolSpec
    redraw: tuple[str, ...]

    @classmethod
    def deletion_fields(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The checked fields of this class, as keyword arguments for ``cls(...)``."""
        check_keys("", config, BASE_KEYS + cls.KEYS)
        redraw = config.get("redraw") or []
        if not isinstance(redraw, (list, tuple)) or set(redraw) - set(REDRAWABLE):
            raise refuse("redraw", f"unknown value(s) in {redraw!r}", REDRAWABLE)
        held = {stream for name, stream in HELD_BY_DEFAULT.items() if name not in redraw}
        common = cls.common(config, kinds=("unlearner",), held=held)
        model = as_dict("model", config.get("model"))
        if "method" not in model:
            raise refuse("model.method", "missing: an unlearning run needs its original model", "a learner")
        check_keys("model", model, ("method", "params"))
        learner = MethodSpec.parse(model["method"], model.get("params"), where="model", kinds=("learner",))
        _check_inner_learner(learner, "model.params")
        protocol = ProtocolSpec.parse(config.get("protocol"))
        protocol.check_group(common["dataset"], common["dataset_params"], common["streams"].seed("split"))
        return {**common, "model": learner, "protocol": protocol, "redraw": tuple(redraw)}

    @classmethod
    def parse(cls, config: dict[str, Any]) -> "DeletionConfig":
        return cls(**cls.deletion_fields(config))

    def base_model_run(self) -> dict[str, Any]:
        """The ``train_base`` run of the original model: the split and init streams of this run."""
        params = dict(self.model.params)
        if self.model.takes_random_state:
            params.setdefault("random_state", self.streams.seed("init"))
        return {"task": "train_base", "method": self.model.name, "dataset": self.dataset,
                "dataset_params": self.dataset_params or None, "params": params, "seed": self.streams.seed("split")}

    def draw_deletion(self, data: Any) -> Any:
        """The deletion of this run (the ``deletion`` stream): the same rows for every run that shares
        the dataset, the protocol, the redraw and the seed."""
        from ...protocols import make_deletion

        return make_deletion(self.protocol.name, data, self.streams.seed("deletion"),
                             **self.protocol.resolved(len(data.train)))


@dataclass(frozen=True)
class UnlearnConfig(DeletionConfig):
    KEYS = DeletionConfig.KEYS + ("reference", "metrics", "leakage", "metric_options")

    reference: MethodSpec | None
    metrics: tuple[str, ...]
    leakage: dict[str, Any]
    metric_options: dict[str, dict[str, Any]]

    @classmethod
    def parse(cls, config: dict[str, Any]) -> "UnlearnConfig":
        fields = cls.deletion_fields(config)
        block = _reference_block(config)
        reference = None if block.get("method") is None else MethodSpec.parse(
            block["method"], block.get("params"), where="reference", kinds=("unlearner",))
        leakage = as_dict("leakage", config.get("leakage"))
        check_keys("leakage", leakage, ("delta",))
        metrics = metric_names(config.get("metrics"), "unlearn", UNLEARN_INPUTS, DEFAULT_METRICS,
                               splits=("test", "retain", "forget"))
        if reference is None:
            needing = [name for name in metrics if set(sources.metrics()[name].inputs_without_split()) & REFERENCE_INPUTS]
            if needing:
                raise refuse("reference", f"none, but metric '{needing[0]}' compares with the reference model",
                             "retrain, or drop the metric")
        options = as_dict("metric_options", config.get("metric_options"))
        for name, given in options.items():
            if name not in metrics:
                raise refuse(f"metric_options.{name}", "not a metric of this run", metrics)
            options[name] = as_dict(f"metric_options.{name}", given)
        return cls(**fields, reference=reference, metrics=metrics, leakage=leakage, metric_options=options)

    def reference_run(self) -> dict[str, Any] | None:
        """The ``reference_unlearn`` run of this run's reference (None without one, or when the method is
        its own reference): it draws the same deletion from the same original model, so every method of a
        table compared on that (model, deletion) shares one reference retrain."""
        if self.reference is None or _reference_is_the_method(self):
            return None
        return {"task": "reference_unlearn", "method": self.reference.name, "params": self.reference.params or None,
                "model": {"method": self.model.name, "params": self.model.params or None},
                "dataset": self.dataset, "dataset_params": self.dataset_params or None,
                "protocol": self.protocol.as_run(), "redraw": list(self.redraw) or None, "seed": self.seed}

    def dependencies(self) -> dict[str, dict[str, Any]]:
        reference = self.reference_run()
        return {"original": self.base_model_run(), **({"reference": reference} if reference else {})}


def _accuracy(split: Split, model: Any) -> float:
    return evaluate(["accuracy"], Inputs({"test": split}, model))["accuracy"]


def _coef(model: Any) -> np.ndarray | None:
    coef = getattr(model, "coef_", None)
    return None if coef is None else np.ravel(coef)


@dataclass(frozen=True)
class _Step:
    """One deletion request of a stream: the rows forgotten so far and left, the model after it."""

    forgotten: Split
    remaining: Split
    model: Any
    seconds: float
    peak_mb: float


def _unlearn_stream(unlearner: Any, original: Any, train: Split, batches: tuple[np.ndarray, ...]) -> list[_Step]:
    """Apply the deletion requests one after another to the same unlearner, each from the model the
    previous one returned (one request: the single deletion every table but ``sequential`` runs)."""
    kept = np.ones(len(train), dtype=bool)
    model, steps = original, []
    for batch in batches:
        kept[batch] = False
        forgotten, remaining = train.subset(np.flatnonzero(~kept)), train.subset(np.flatnonzero(kept))
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        model = unlearner.unlearn(model, train.subset(batch), remaining)
        seconds = time.perf_counter() - start
        peak_mb = (tracemalloc.get_traced_memory()[1] - before) / 2**20 if tracemalloc.is_tracing() else float("nan")
        steps.append(_Step(forgotten, remaining, model, seconds, peak_mb))
    return steps


def _context(names: tuple[str, ...], **available: Any) -> dict[str, Any]:
    """What an unlearner ``receives`` (names from ``methods.base.CONTEXT``), from what the run has."""
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise FairbenchError(f"an unlearner asks for {unknown}, which an unlearning run does not give; it gives "
                             f"{sorted(available)}")
    return {name: available[name] for name in names}


def _reference_is_the_method(config: "UnlearnConfig") -> bool:
    return config.reference.name == config.method.name and config.method.params == config.reference.params


def _parameter_distance(unlearned: Any, reference: Any) -> dict[str, float]:
    """``l2_to_retrain`` where both models have parameter vectors of one shape (else nothing)."""
    ours, theirs = _coef(unlearned), _coef(reference)
    if ours is None or theirs is None or ours.shape != theirs.shape:
        return {}
    return evaluate(["l2_to_retrain"], Inputs({}, values={"theta": ours, "theta_reference": theirs}))


def _distance_to(unlearned: Any, reference: Any, test: Split, inputs: Inputs | None = None) -> dict[str, float]:
    """Distance of the unlearned model to the reference: of the parameters where they compare, and of the
    test predictions (hard-label disagreement and KL of the predicted distributions, for any two classifiers).
    ``inputs``: the run's evaluator inputs, whose test predictions of both models the metrics already took."""
    inputs = inputs or Inputs({"test": test}, unlearned, models={"reference": reference})
    return {**_parameter_distance(unlearned, reference),
            **evaluate(["disagreement_to_retrain", "kl_to_retrain"], inputs)}


def _grad_residual(model: Any, rows: Split) -> float:
    return float(np.linalg.norm(model.objective_gradient(rows.X, rows.y, rows.s)))


def _per_step_metrics(config: "UnlearnConfig", steps: list[_Step], original: Any, seed: int) -> dict[str, float]:
    """After each request i (1-based) of a stream: ``unlearn_seconds_step_<i>``, ``l2_to_retrain_step_<i>``
    (to the reference refitted on the rows left then), ``grad_residual_step_<i>`` and ``residual_bound_step_<i>`` (Guo
et al.'s data-dependent bound for the step from the previous model, for a linear model)."""
    from ...metrics.leakage import data_dependent_residual_bound

    metrics: dict[str, float] = {}
    before = original
    for i, step in enumerate(steps, start=1):
        metrics[f"unlearn_seconds_step_{i}"] = step.seconds
        if hasattr(step.model, "design") and _coef(step.model) is not None:
            # Guo et al.'s data-dependent bound (Cor. 1) on the residual of this request's step
            metrics[f"residual_bound_step_{i}"] = data_dependent_residual_bound(
                step.model.design(step.remaining.X), _coef(before), _coef(step.model))
        before = step.model
        if config.reference is not None:
            reference = step.model if _reference_is_the_method(config) else config.reference.build(
                random_state=seed).unlearn(original, step.forgotten, step.remaining)
            metrics.update({f"{key}_step_{i}": value
                            for key, value in _parameter_distance(step.model, reference).items()})
        if hasattr(step.model, "objective_gradient"):
            metrics[f"grad_residual_step_{i}"] = _grad_residual(step.model, step.remaining)
    return metrics


def _leakage(original: Any, unlearned: Any, train: Split, retain: Split, m: int, delta: float) -> dict[str, float]:
    """ε′ bounds and ε of :mod:`fairbench.metrics.leakage` for a linear model trained with noise σ;
    ``epsilon`` is the smaller of the data-dependent and the (reconstructed) worst-case ε, as the paper reports."""
    from ...metrics.leakage import (
        certified_removal_epsilon, data_dependent_residual_bound, worst_case_residual_bound,
    )

    needed = ("coef_", "design", "l2", "sigma")
    if not all(hasattr(original, a) for a in needed) or _coef(unlearned) is None:
        raise FairbenchError("leakage needs a linear model with objective perturbation (coef_, design, l2, sigma)")
    n, theta = len(train), _coef(original)
    if train.s is None:
        raise FairbenchError("the worst-case leakage bound needs the sensitive attribute")
    bounds = {
        "data_dependent": data_dependent_residual_bound(original.design(retain.X), theta, _coef(unlearned)),
        **{f"worst_case_{form}": worst_case_residual_bound(n, m, original.l2, float(np.linalg.norm(theta)),
                                                           int(np.sum(train.s == 1)), form)
           for form in ("reconstructed", "repo")},
    }
    out = {}
    for key, bound in bounds.items():
        out[f"eps_prime_{key}"] = bound
        out[f"epsilon_{key}"] = certified_removal_epsilon(bound, original.sigma, delta)
    out["epsilon"] = min(out["epsilon_data_dependent"], out["epsilon_worst_case_reconstructed"])
    return out


def _rows_digest(rows: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()


def _check_same_deletion(reference_record: Mapping[str, Any], forget: np.ndarray) -> None:
    """The shared reference must have forgotten exactly this run's rows: its run config draws the same
    deletion, and this guards the distance against the two draws drifting apart."""
    if reference_record["info"].get("forget_sha256") != _rows_digest(forget):
        raise FairbenchError("the shared reference run forgot other rows than this run: the two deletion draws differ")


REFERENCE_INPUTS = {f"{what}_reference" for what in ROLE_INPUTS} | {"reference_seconds"}


def _reference_block(config: dict[str, Any]) -> dict[str, Any]:
    """The ``reference`` of a run config as ``{method, params}``: retrain unless the config says 'none'
    (``{}``); a name stands for ``{method: name}``."""
    reference = config.get("reference", "retrain")
    if reference in (None, "none"):
        return {}
    if not isinstance(reference, dict):
        return {"method": str(reference)}
    check_keys("reference", reference, ("method", "params"))
    if not isinstance(reference.get("method"), str):
        raise refuse("reference.method", f"expected a method name, got {reference.get('method')!r}", "retrain, none")
    return reference


def _reference_name(config: dict[str, Any]) -> str | None:
    """The exact-unlearning oracle a run is compared with (None: no reference)."""
    return _reference_block(config).get("method")


def _learner_components(config: dict[str, Any]) -> tuple[str, ...]:
    """The original model's learner (and one named in its parameters)."""
    model = config.get("model")
    learner = (model.get("method"),) if isinstance(model, dict) and model.get("method") else ()
    if learner:
        learner += _inner_learner(model.get("params"))
    return learner


def _components(config: dict[str, Any]) -> tuple[str, ...]:
    """The original model's learner (and one named in its parameters) and the reference unlearner."""
    reference = _reference_name(config)
    return _learner_components(config) + ((reference,) if reference else ())


@register_task(
    "reference_unlearn",
    version="1",
    description="an unlearning run's reference: draw its deletion, unlearn it with the exact oracle (retrain); "
                "keep the model, shared by every method compared on that model and deletion",
    config=DeletionConfig,
    components=_learner_components,
    needs=lambda config: {"original": config.base_model_run()},
)
def reference_unlearn(config: DeletionConfig, deps: Mapping[str, Stored]) -> TaskResult:
    data = config.load_data()
    original = deps["original"].objects["model"]
    deletion = config.draw_deletion(data)
    forget, retain = data.train.subset(deletion.forget), data.train.subset(deletion.retain)
    # the unlearner stream, as in the dependant task: the seed the in-task reference was built with
    reference_unlearner = config.method.build(random_state=config.streams.seed("unlearner"))
    start = time.perf_counter()
    reference = reference_unlearner.unlearn(original, forget, retain)
    seconds = time.perf_counter() - start
    return TaskResult(
        metrics={"reference_seconds": seconds, "n_forget": float(len(forget)), "n_retain": float(len(retain))},
        timings={"reference_s": seconds},
        arrays={"forget": deletion.forget},
        data=data_summary(data),
        info={"deletion": deletion.meta, "forget_sha256": _rows_digest(deletion.forget)},
        objects={"model": reference},
    )


@register_task(
    "unlearn",
    version="1",
    description="train/reuse an original model, draw a deletion, unlearn it; accuracy, fairness, distance to "
                "retraining, timings",
    config=UnlearnConfig,
    components=_components,
    needs=lambda config: config.dependencies(),
)
def run(config: UnlearnConfig, deps: Mapping[str, Stored]) -> TaskResult:
    streams = config.streams
    unlearner = config.method.build(random_state=streams.seed("unlearner"))
    data = config.load_data()
    original, original_record = deps["original"].objects["model"], deps["original"].record

    deletion = config.draw_deletion(data)
    forget, retain = data.train.subset(deletion.forget), data.train.subset(deletion.retain)

    reference = reference_seconds = None
    if config.reference is not None and not _reference_is_the_method(config):
        shared = deps["reference"]  # the shared reference_unlearn run of this (original model, deletion)
        _check_same_deletion(shared.record, deletion.forget)
        reference, reference_seconds = shared.objects["model"], shared.record["metrics"]["reference_seconds"]
    if getattr(unlearner, "receives", ()):
        unlearner.receive(**_context(unlearner.receives, reference=reference, dataset_meta=data.meta))
    precompute_seconds = 0.0
    if hasattr(unlearner, "prepare"):
        start = time.perf_counter()
        unlearner.prepare(original, data.train)
        precompute_seconds = time.perf_counter() - start
    steps = _unlearn_stream(unlearner, original, data.train, deletion.batches or (deletion.forget,))
    unlearned, unlearn_seconds = steps[-1].model, sum(step.seconds for step in steps)
    peak_mb = max(step.peak_mb for step in steps)
    if config.reference is not None and _reference_is_the_method(config):
        reference, reference_seconds = unlearned, unlearn_seconds
    train_seconds = original_record["metrics"].get("train_seconds", float("nan"))

    run_values = {"unlearn_seconds": unlearn_seconds, "train_seconds": train_seconds,
                  "reference_seconds": reference_seconds, "is_original": unlearned is original,
                  **({"fairness": data.meta["fairness"]} if "fairness" in data.meta else {})}
    inputs = Inputs({"test": data.test, "retain": retain, "forget": forget}, unlearned, values=run_values,
                    privileged=data.privileged, dataset=data.name,
                    models={"original": original, "reference": reference})
    metrics = evaluate(config.metrics, inputs, seed=streams.seed("evaluation"), options=config.metric_options)
    metrics.update({
        "n_forget": float(len(forget)), "n_retain": float(len(retain)),
        "precompute_seconds": precompute_seconds, "unlearn_seconds": unlearn_seconds,
        **({"unlearn_peak_mb": peak_mb} if math.isfinite(peak_mb) else {}),  # traced runs only
        "train_seconds": train_seconds,
    })
    # Numbers an unlearner reports about its last call (cfdebias: counterfactual-search vs optimisation
    # seconds, share of counterfactuals found; PUMA: step norm), kept as unlearner_<name>.
    for key, value in (getattr(unlearner, "report_", None) or {}).items():
        metrics[f"unlearner_{key}"] = float(value)

    if config.reference is not None:
        metrics["reference_seconds"] = reference_seconds
        metrics.update(_distance_to(unlearned, reference, data.test, inputs))

    if hasattr(unlearned, "objective_gradient"):
        # Residual of the remaining-data objective (n−m)·F(·; D′) + bᵀθ: 0 for exact retraining.
        metrics["grad_residual"] = _grad_residual(unlearned, retain)
        metrics["grad_residual_original"] = float(np.linalg.norm(
            unlearned.objective_gradient(retain.X, retain.y, retain.s, theta=_coef(original))))
    if deletion.batches is not None:
        metrics.update(_per_step_metrics(config, steps, original, streams.seed("unlearner")))
    if config.leakage:
        metrics.update(_leakage(original, unlearned, data.train, retain, len(forget), **config.leakage))

    return TaskResult(
        metrics=metrics,
        timings={"precompute_s": precompute_seconds, "unlearn_s": unlearn_seconds},
        arrays={"forget": deletion.forget,
                **({"forget_index": data.train.index[deletion.forget]} if data.train.index is not None else {})},
        data=data_summary(data),
        info={"deletion": deletion.meta, "split_seed": streams.seed("split"), "model_seed": streams.seed("init"),
              "original": {"group": original_record["key"]["group"], "seed": original_record["key"]["seed"],
                           "grad_norm": original_record.get("info", {}).get("grad_norm")},
              "notes": data.meta.get("notes", [])},
    )
