"""Debiased recommendation with a few unbiased ratings (ULTD Table 1, ultd.md §4).

Protocol, per run (seed):

1. Load a ``ratings`` dataset: ``train`` = biased (self-selected) ratings O, ``test`` = unbiased
   (randomly exposed) ratings, ``X`` = (user, item) ids.
2. Binarise every rating at ``threshold`` (``y >= threshold`` is positive; the paper's 3 for Coat and
   Yahoo! R3, 2 on KuaiRec's watch ratio; default: the dataset's ``meta["label_threshold"]``, else 3).
3. Split the unbiased ratings over individual ratings with the run's seed (or ``split.seed``):
   permute, the first ``int(0.05 N)`` are the unbiased training set A, the next ``int(0.05 N)`` the
   validation set, the rest (~90 %) the test set (the AutoDebias split function, ultd.md §4.1).
4. Fit the recommender on O (plus A if it uses unbiased data), early-stopped on validation AUC.
5. Report on the test set: pooled AUC, NDCG@K and Recall@K (K = ``k``, default the dataset's
   ``meta["ranking_k"]``, else 5) in both conventions of ultd.md §4.2. ``ndcg@K`` / ``recall@K``
   are the ``metric_convention`` chosen (default ``drjl``, the paper's); ``*_drjl`` and
   ``*_autodebias`` are always both stored.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...core.errors import FairbenchError
from ...datasets import Split, load_dataset
from ...methods import METHODS
from ...metrics.ranking import CONVENTIONS, pooled_auc, ranking_report
from .base import TaskResult, register_task

DEFAULT_SPLIT = {"train": 0.05, "valid": 0.05}


def split_unbiased(split: Split, seed: int, train: float = 0.05, valid: float = 0.05) -> tuple[Split, Split, Split]:
    """(A, validation, test) of the unbiased ratings: a seeded permutation cut at int(train N) and
    int(train N) + int(valid N); the rest is the test set."""
    if not (0 <= train and 0 <= valid and train + valid < 1):
        raise FairbenchError(f"split fractions must be >= 0 with train + valid < 1, got {train}, {valid}")
    n = len(split)
    perm = np.random.RandomState(seed).permutation(n)
    n_train, n_valid = int(train * n), int(valid * n)
    parts = perm[:n_train], perm[n_train:n_train + n_valid], perm[n_train + n_valid:]
    return tuple(split.subset(np.sort(p)) for p in parts)  # type: ignore[return-value]


def binarise(y: np.ndarray, threshold: float) -> np.ndarray:
    return (np.asarray(y, dtype=float) >= threshold).astype(np.int64)


def _resolve(config: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    threshold = config.get("threshold", meta.get("label_threshold", 3))
    k = config.get("k", meta.get("ranking_k", 5))
    convention = config.get("metric_convention", "drjl")
    if convention not in CONVENTIONS:
        raise FairbenchError(f"metric_convention must be one of {', '.join(CONVENTIONS)}, got '{convention}'")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise FairbenchError(f"k must be a positive integer, got {k!r}")
    split = {**DEFAULT_SPLIT, **(config.get("split") or {})}
    unknown = sorted(set(split) - {"train", "valid", "seed"})
    if unknown:
        raise FairbenchError(f"split takes train, valid and seed, not {', '.join(unknown)}")
    split.setdefault("seed", None)
    return {"threshold": float(threshold), "k": k, "metric_convention": convention, "split": split}


@register_task(
    "recommend",
    version="1",
    description="fit a recommender on biased ratings (+5 % unbiased), early-stop on 5 %; AUC, NDCG@K, Recall@K on 90 %",
    config_keys=("params", "dataset_params", "threshold", "k", "metric_convention", "split"),
)
def run(config: dict[str, Any]) -> TaskResult:
    entry = METHODS.get(config["method"])
    if entry.kind != "recommender":
        raise FairbenchError(f"'{entry.name}' is a {entry.kind}, not a recommender; task 'recommend' needs one")
    data = load_dataset(config["dataset"], seed=config["seed"], params=config.get("dataset_params"))
    if data.task != "ratings":
        raise FairbenchError(f"task 'recommend' needs a ratings dataset; {data.name} is '{data.task}'")
    settings = _resolve(config, data.meta)
    n_users, n_items = int(data.meta["n_users"]), int(data.meta["n_items"])
    split_seed = config["seed"] if settings["split"]["seed"] is None else int(settings["split"]["seed"])
    unbiased, valid, test = split_unbiased(data.test, split_seed, settings["split"]["train"], settings["split"]["valid"])
    threshold = settings["threshold"]

    params = {"random_state": config["seed"], **(config.get("params") or {})}
    try:
        model = entry.factory(**params)
    except (TypeError, ValueError) as exc:
        raise FairbenchError(f"bad parameters for method '{entry.name}': {exc}") from None
    uses_unbiased = bool(getattr(model, "uses_unbiased", False))
    start = time.perf_counter()
    model.fit(
        data.train.X, binarise(data.train.y, threshold), n_users=n_users, n_items=n_items,
        X_unbiased=unbiased.X if uses_unbiased else None,
        y_unbiased=binarise(unbiased.y, threshold) if uses_unbiased else None,
        X_valid=valid.X, y_valid=binarise(valid.y, threshold), monitor=pooled_auc,
    )
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    score = model.predict_proba(test.X)[:, 1]
    y_test = binarise(test.y, threshold)
    k = settings["k"]
    report = ranking_report(test.X[:, 0], test.X[:, 1], y_test, score, k)
    primary = "" if settings["metric_convention"] == "drjl" else "_autodebias"
    metrics = {
        "auc": report["auc"],
        f"ndcg@{k}": report[f"ndcg@{k}{primary}"],
        f"recall@{k}": report[f"recall@{k}{primary}"],
        f"ndcg@{k}_drjl": report[f"ndcg@{k}"],
        f"recall@{k}_drjl": report[f"recall@{k}"],
        f"ndcg@{k}_autodebias": report[f"ndcg@{k}_autodebias"],
        f"recall@{k}_autodebias": report[f"recall@{k}_autodebias"],
        "valid_auc": model.fit_info_.get("best_valid") or float("nan"),
        "best_epoch": float(model.fit_info_["best_epoch"]),
    }
    info = model.fit_info_
    return TaskResult(
        metrics=metrics,
        timings={"fit_s": fit_seconds, "evaluate_s": time.perf_counter() - start},
        data={
            "dataset": data.name, "files": data.meta.get("files", {}), "n_biased": len(data.train),
            "n_unbiased_train": len(unbiased), "n_valid": len(valid), "n_test": len(test),
            "n_users": n_users, "n_items": n_items, "split_seed": split_seed,
            "positive_rate": {"biased": float(binarise(data.train.y, threshold).mean()), "test": float(y_test.mean())},
        },
        info={
            "protocol": {**settings, "uses_unbiased": uses_unbiased,
                         "test_users": report["n_users"], "test_users_with_positive": report["n_users_with_pos"]},
            "hyperparameters": {**model.get_params()} if hasattr(model, "get_params") else params,
            "early_stopping": {"best_epoch": info["best_epoch"], "epochs_run": info["epochs_run"],
                               "best_valid_auc": info.get("best_valid")},
            "fit": {k2: v for k2, v in info.items() if k2 not in ("best_epoch", "epochs_run", "best_valid")},
            "notes": data.meta.get("notes", []),
        },
    )
