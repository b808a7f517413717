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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ...core.errors import FairbenchError
from .base import Stored, TaskResult, register_task
from .config import BASE_KEYS, RunConfig, as_dict, check_keys, choice, positive_int, refuse
from .evaluation import Inputs, evaluate

if TYPE_CHECKING:  # planning imports this module: the datasets load when a run needs them
    from ...datasets import Split

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


@dataclass(frozen=True)
class RecommendConfig(RunConfig):
    KEYS = ("params", "dataset_params", "threshold", "k", "metric_convention", "split")

    threshold: float | None  # None: the dataset's label_threshold (else 3)
    k: int | None  # None: the dataset's ranking_k (else 5)
    metric_convention: str
    split: dict[str, Any]

    @classmethod
    def parse(cls, config: dict[str, Any]) -> "RecommendConfig":
        check_keys("", config, BASE_KEYS + cls.KEYS)
        common = cls.common(config, kinds=("recommender",))
        threshold = config.get("threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
            raise refuse("threshold", f"expected a number, got {threshold!r}", "a rating value")
        k = config.get("k")
        split = {**DEFAULT_SPLIT, **as_dict("split", config.get("split"))}
        check_keys("split", split, ("train", "valid", "seed"))
        train, valid = split["train"], split["valid"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (train, valid)) \
                or not (0 <= train and 0 <= valid and train + valid < 1):
            raise refuse("split", f"fractions must be >= 0 with train + valid < 1, got {train}, {valid}",
                         "train, valid in [0, 1) with train + valid < 1")
        split.setdefault("seed", None)
        from ...metrics.ranking import CONVENTIONS  # after the method's and the dataset's checks (imports scipy)

        return cls(**common, threshold=threshold, k=None if k is None else positive_int("k", k),
                   metric_convention=choice("metric_convention", config.get("metric_convention", "drjl"), CONVENTIONS),
                   split=split)


@register_task("recommend", version="1", config=RecommendConfig,
               description="fit a recommender on biased ratings (+5 % unbiased), early-stop on 5 %; AUC, NDCG@K, "
                           "Recall@K on 90 %")
def run(config: RecommendConfig, deps: Mapping[str, Stored]) -> TaskResult:
    data = config.load_data()
    if data.task != "ratings":
        raise FairbenchError(f"task 'recommend' needs a ratings dataset; {data.name} is '{data.task}'")
    settings = {"threshold": float(data.meta.get("label_threshold", 3) if config.threshold is None else config.threshold),
                "k": int(data.meta.get("ranking_k", 5) if config.k is None else config.k),
                "metric_convention": config.metric_convention, "split": config.split}
    n_users, n_items = int(data.meta["n_users"]), int(data.meta["n_items"])
    split_seed = config.streams.seed("split") if config.split["seed"] is None else int(config.split["seed"])
    unbiased, valid, test = split_unbiased(data.test, split_seed, config.split["train"], config.split["valid"])
    threshold = settings["threshold"]

    from ...metrics.ranking import pooled_auc

    params = config.method.params
    model = config.method.build(random_state=config.streams.seed("method"))
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
    users = test.X[:, 0]
    primary = "" if settings["metric_convention"] == "drjl" else "_autodebias"
    reported = {"auc": "pooled_auc", f"ndcg@{k}": f"ndcg_at_k{primary}", f"recall@{k}": f"recall_at_k{primary}",
                f"ndcg@{k}_drjl": "ndcg_at_k", f"recall@{k}_drjl": "recall_at_k",
                f"ndcg@{k}_autodebias": "ndcg_at_k_autodebias", f"recall@{k}_autodebias": "recall_at_k_autodebias"}
    inputs = Inputs({"test": test}, dataset=data.name,
                    values={"users": users, "items": test.X[:, 1], "y": y_test, "score": score, "k": k})
    metrics = {
        **evaluate(reported, inputs),
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
                         "test_users": int(len(np.unique(users))),
                         "test_users_with_positive": int(len(np.unique(users[y_test > 0])))},
            "hyperparameters": {**model.get_params()} if hasattr(model, "get_params") else params,
            "early_stopping": {"best_epoch": info["best_epoch"], "epochs_run": info["epochs_run"],
                               "best_valid_auc": info.get("best_valid")},
            "fit": {k2: v for k2, v in info.items() if k2 not in ("best_epoch", "epochs_run", "best_valid")},
            "notes": data.meta.get("notes", []),
        },
    )
