"""Unlearning experiments: train (or reuse) an original model, delete rows, unlearn, evaluate.

Task ``unlearn`` — a cell's run config::

    method: <unlearner>            # e.g. fair_unlearning, newton, retrain, full_training, sisa
    params: {...}                  # the unlearner's parameters
    model: {method: <learner>, params: {...}}    # the original model (trained by task train_base, cached)
    dataset: name@variant, dataset_params: {...}
    protocol: {name: uniform | subgroup | ..., <protocol parameters>, size: <m>}   # make_deletion
    redraw: []                     # what the seed redraws besides the deletion: split, noise
    reference: retrain | none      # the exact-unlearning oracle for ‖θ − θ_ref‖ and its timing
    metrics: [...]                 # registered metric names (default: DEFAULT_METRICS)
    leakage: {delta: 1e-4}         # optional: certified-removal ε of a perturbed linear model

Repeats: the job's seed always draws the deletion. By default (``redraw: []``) the split, the
objective-perturbation noise and the original model come from seed 0, so the repeats of a cell are
deletion draws from one trained model (the fairunlearn protocol); ``redraw: [noise]`` also redraws
the noise (and refits), ``[split, noise]`` redraws everything. ``protocol.size`` gives m directly
for protocols whose fraction is of the training set.

Timings (also in ``metrics`` so tables can show them): ``precompute_seconds`` (an unlearner's
optional one-off ``prepare(model, train)``, independent of the deletion), ``unlearn_seconds`` (the
``unlearn`` call), ``reference_seconds`` (retraining the oracle), ``train_seconds`` (the original
fit, from its cached record). ``unlearn_peak_mb`` is the traced peak memory of the ``unlearn`` call.
An unlearner's ``report_`` dict (set by ``unlearn``) is stored as metrics ``unlearner_<key>``.
The forget indices (positions in the training split) and their source row ids are stored as arrays.

Task ``train_base`` fits a learner on the training split, passing the sensitive attribute or row
ids when its ``fit`` declares them (:mod:`fairbench.methods._fitting`); its records cache the models.
"""

from __future__ import annotations

import inspect
import time
import tracemalloc
from typing import Any

import numpy as np

from ...core.determinism import seed_everything
from ...core.errors import FairbenchError
from ...datasets import load_dataset
from ...datasets.base import Dataset, Split
from ...methods import METHODS
from ...methods._fitting import fit_on
from ...metrics import METRICS
from ...metrics.leakage import (
    certified_removal_epsilon, data_dependent_residual_bound, worst_case_residual_bound,
)
from ...protocols import make_deletion
from ...store import RecordStore
from .base import TaskResult, build_model, register_task

DEFAULT_METRICS = (
    "test_accuracy", "retain_accuracy", "forget_accuracy", "balanced_accuracy",
    "average_abs_odds_difference", "demographic_parity_difference", "equal_opportunity_difference",
    "subgroup_accuracy",
)
REDRAWABLE = ("split", "noise")


def _predict(model: Any, X: np.ndarray) -> np.ndarray:
    if hasattr(model, "predict"):
        return np.asarray(model.predict(X))
    return np.argmax(model.predict_proba(X), axis=1)


def _data_info(data: Dataset) -> dict[str, Any]:
    return {"dataset": data.name, "files": data.meta.get("files", {}), "n_train": len(data.train), "n_test": len(data.test)}


def _inner_learner(params: Any) -> tuple[str, ...]:
    """A learner named inside a learner's parameters (``learner: dnn`` of a SISA ensemble's shards)."""
    inner = params.get("learner") if isinstance(params, dict) else None
    return (str(inner),) if inner else ()


@register_task(
    "train_base",
    version="1",
    description="fit a learner on the training split (with s / row ids when its fit takes them); keep the model",
    config_keys=("params", "dataset_params"),
    components=lambda config: _inner_learner(config.get("params")),
)
def train_base(config: dict[str, Any]) -> TaskResult:
    data = load_dataset(config["dataset"], seed=config["seed"], params=config.get("dataset_params"))
    entry = METHODS.get(config["method"])
    if entry.kind != "learner":
        raise FairbenchError(f"'{entry.name}' is a {entry.kind}, not a learner that can be trained as a base model")
    model = build_model(entry.name, config.get("params", {}))
    start = time.perf_counter()
    fit_on(model, data.train)
    seconds = time.perf_counter() - start
    accuracy = METRICS.get("accuracy").fn
    metrics = {f"{name}_accuracy": accuracy(split.y, _predict(model, split.X))
               for name, split in (("train", data.train), ("test", data.test))}
    grad_norm = getattr(model, "grad_norm_", None)
    if grad_norm is not None:
        metrics["grad_norm"] = grad_norm
    return TaskResult(
        metrics={**metrics, "train_seconds": seconds},
        timings={"fit_s": seconds},
        data=_data_info(data),
        info={"grad_norm": grad_norm, "n_iter": getattr(model, "n_iter_", None)},
        objects={"model": model},
    )


def base_model(model_config: dict[str, Any], dataset: str, dataset_params: dict | None,
               split_seed: int, model_seed: int) -> tuple[Any, dict[str, Any]]:
    """The original model of an unlearning run, from the record store (trained and stored if missing)."""
    from ..jobs import make_job, run_job  # the runner imports the tasks; import back only when running

    if not isinstance(model_config, dict) or "method" not in model_config:
        raise FairbenchError("task unlearn needs model: {method: <learner>, params: {...}}")
    unknown = sorted(set(model_config) - {"method", "params"})
    if unknown:
        raise FairbenchError(f"model takes method and params, not {', '.join(unknown)}")
    params = dict(model_config.get("params") or {})
    factory = METHODS.get(model_config["method"]).factory
    if "random_state" in inspect.signature(factory).parameters:
        params.setdefault("random_state", model_seed)
    job = make_job({"task": "train_base", "method": model_config["method"], "dataset": dataset,
                    "dataset_params": dataset_params, "params": params, "seed": split_seed})
    store = RecordStore()
    if not store.has(job.group, job.seed):
        outcome = run_job(job, store.root)  # nested: leaves this job's memory tracer running
        if outcome.status != "ran":
            raise FairbenchError(f"training the original model failed: {outcome.message}")
    return store.load_object(job.group, job.seed, "model"), store.load(job.group, job.seed)


def _protocol(config: dict[str, Any], data: Dataset) -> tuple[str, dict[str, Any]]:
    spec = dict(config.get("protocol") or {})
    if "name" not in spec:
        raise FairbenchError("task unlearn needs protocol: {name: <protocol>, ...}")
    name = spec.pop("name")
    if "size" in spec:
        if "fraction" in spec or spec.get("fraction_of", "train") != "train":
            raise FairbenchError("protocol.size replaces a fraction of the training set; give one of size or fraction")
        size = int(spec.pop("size"))
        spec["fraction"] = size / len(data.train)
    return name, spec


def _evaluate(names: list[str], model: Any, data: Dataset, forget: Split, retain: Split, seed: int) -> dict[str, float]:
    """Each metric called the way its signature asks: (y, ŷ) on its set, fairness on the test set
    with the dataset's privileged group, subgroup metrics once per group, MIA presets on probabilities."""
    sets = {"test": data.test, "retain": retain, "forget": forget}
    pred = {key: _predict(model, split.X) for key, split in sets.items()}
    out: dict[str, float] = {}
    for name in names:
        info = METRICS.get(name)
        params = list(inspect.signature(info.fn).parameters)
        if name in ("retain_accuracy", "forget_accuracy", "test_accuracy"):
            key = name.split("_")[0]
            out[name] = info.fn(sets[key].y, pred[key])
        elif params[:3] == ["y_true", "y_pred", "sensitive"]:
            if data.test.s is None:
                raise FairbenchError(f"metric {name} needs a sensitive attribute; {data.name} has none")
            if "group" in params:
                for code in np.unique(data.test.s):
                    out[f"{name}_{int(code)}"] = info.fn(data.test.y, pred["test"], data.test.s, group=code)
            elif "privileged" in params:
                if data.privileged is None:
                    raise FairbenchError(f"metric {name} needs a privileged group; {data.name} defines none")
                out[name] = info.fn(data.test.y, pred["test"], data.test.s, privileged=data.privileged)
            else:
                out[name] = info.fn(data.test.y, pred["test"], data.test.s)
        elif params[:2] == ["y_true", "y_pred"]:
            out[name] = info.fn(data.test.y, pred["test"])
        elif params[:2] in (["y_true", "p"], ["y_true", "score"]):
            out[name] = info.fn(data.test.y, model.predict_proba(data.test.X)[:, 1])
        elif params[:6] == ["p_forget", "y_forget", "p_retain", "y_retain", "p_test", "y_test"]:
            probs = {key: model.predict_proba(split.X) for key, split in sets.items()}
            out[name] = info.fn(probs["forget"], forget.y, probs["retain"], retain.y, probs["test"], data.test.y, seed=seed)
        else:
            raise FairbenchError(f"task unlearn does not know how to evaluate metric '{name}'")
    return out


def _coef(model: Any) -> np.ndarray | None:
    coef = getattr(model, "coef_", None)
    return None if coef is None else np.ravel(coef)


def _leakage(original: Any, unlearned: Any, train: Split, retain: Split, m: int, delta: float) -> dict[str, float]:
    """ε′ bounds and ε of :mod:`fairbench.metrics.leakage` for a linear model trained with noise σ;
    ``epsilon`` is the smaller of the data-dependent and the (reconstructed) worst-case ε, as the paper reports."""
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


def _method_random_state(entry: Any, seed: int) -> dict[str, int]:
    """The seed an unlearner drew from torch's global RNG after ``torch.manual_seed(seed)`` before it took
    ``random_state`` (kept so that records do not move; the runner's seed rule replaces this)."""
    if "random_state" not in inspect.signature(entry.factory).parameters:
        return {}
    import torch

    return {"random_state": int(torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(seed)))}


def _reference_name(config: dict[str, Any]) -> str | None:
    """The exact-unlearning oracle a run is compared with: retrain unless the config says 'none'."""
    reference = config.get("reference", "retrain")
    return None if reference in (None, "none") else str(reference)


def _components(config: dict[str, Any]) -> tuple[str, ...]:
    """The original model's learner (and one named in its parameters) and the reference unlearner."""
    model = config.get("model")
    learner = (model.get("method"),) if isinstance(model, dict) and model.get("method") else ()
    if learner:
        learner += _inner_learner(model.get("params"))
    reference = _reference_name(config)
    return learner + ((reference,) if reference else ())


@register_task(
    "unlearn",
    version="1",
    description="train/reuse an original model, draw a deletion, unlearn it; accuracy, fairness, distance to "
                "retraining, timings",
    config_keys=("params", "model", "dataset_params", "protocol", "redraw", "reference", "metrics", "leakage"),
    components=_components,
)
def run(config: dict[str, Any]) -> TaskResult:
    seed = config["seed"]
    redraw = list(config.get("redraw") or [])
    if set(redraw) - set(REDRAWABLE):
        raise FairbenchError(f"redraw takes {', '.join(REDRAWABLE)}; got {redraw}")
    split_seed = seed if "split" in redraw else 0
    model_seed = seed if "noise" in redraw else 0
    entry = METHODS.get(config["method"])
    if entry.kind != "unlearner":
        raise FairbenchError(f"'{entry.name}' is a {entry.kind}, not an unlearner")
    unlearner = build_model(entry.name, {**_method_random_state(entry, seed), **(config.get("params") or {})})
    data = load_dataset(config["dataset"], seed=split_seed, params=config.get("dataset_params"))
    original, original_record = base_model(config.get("model"), config["dataset"], config.get("dataset_params"),
                                           split_seed, model_seed)
    seed_everything(seed)  # whether the base model was cached or trained must not change what follows

    name, protocol_params = _protocol(config, data)
    deletion = make_deletion(name, data, seed, **protocol_params)
    forget, retain = data.train.subset(deletion.forget), data.train.subset(deletion.retain)

    precompute_seconds = 0.0
    if hasattr(unlearner, "prepare"):
        start = time.perf_counter()
        unlearner.prepare(original, data.train)
        precompute_seconds = time.perf_counter() - start
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    unlearned = unlearner.unlearn(original, forget, retain)
    unlearn_seconds = time.perf_counter() - start
    peak_mb = (tracemalloc.get_traced_memory()[1] - before) / 2**20 if tracemalloc.is_tracing() else float("nan")

    metrics = _evaluate(list(config.get("metrics") or DEFAULT_METRICS), unlearned, data, forget, retain, seed)
    metrics.update({
        "n_forget": float(len(forget)), "n_retain": float(len(retain)),
        "precompute_seconds": precompute_seconds, "unlearn_seconds": unlearn_seconds, "unlearn_peak_mb": peak_mb,
        "train_seconds": original_record["metrics"].get("train_seconds", float("nan")),
    })
    # Numbers an unlearner reports about its last call (cfdebias: counterfactual-search vs optimisation
    # seconds, share of counterfactuals found; PUMA: step norm), kept as unlearner_<name>.
    for key, value in (getattr(unlearner, "report_", None) or {}).items():
        metrics[f"unlearner_{key}"] = float(value)

    reference_name = _reference_name(config)
    if reference_name is not None:
        if reference_name == config["method"] and not config.get("params"):
            reference, reference_seconds = unlearned, unlearn_seconds
        else:
            reference_unlearner = build_model(reference_name, {})
            start = time.perf_counter()
            reference = reference_unlearner.unlearn(original, forget, retain)
            reference_seconds = time.perf_counter() - start
        metrics["reference_seconds"] = reference_seconds
        ours, theirs = _coef(unlearned), _coef(reference)
        if ours is not None and theirs is not None and ours.shape == theirs.shape:
            metrics["l2_to_retrain"] = METRICS.get("l2_to_retrain").fn(ours, theirs)

    if hasattr(unlearned, "objective_gradient"):
        # Residual of the remaining-data objective (n−m)·F(·; D′) + bᵀθ: 0 for exact retraining.
        metrics["grad_residual"] = float(np.linalg.norm(unlearned.objective_gradient(retain.X, retain.y, retain.s)))
        metrics["grad_residual_original"] = float(np.linalg.norm(
            unlearned.objective_gradient(retain.X, retain.y, retain.s, theta=_coef(original))))
    if config.get("leakage"):
        metrics.update(_leakage(original, unlearned, data.train, retain, len(forget), **config["leakage"]))

    return TaskResult(
        metrics=metrics,
        timings={"precompute_s": precompute_seconds, "unlearn_s": unlearn_seconds},
        arrays={"forget": deletion.forget,
                **({"forget_index": data.train.index[deletion.forget]} if data.train.index is not None else {})},
        data=_data_info(data),
        info={"deletion": deletion.meta, "split_seed": split_seed, "model_seed": model_seed,
              "original": {"group": original_record["key"]["group"], "seed": original_record["key"]["seed"],
                           "grad_norm": original_record.get("info", {}).get("grad_norm")},
              "notes": data.meta.get("notes", [])},
    )
