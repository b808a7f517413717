"""SISA (Bourtoule et al. 2020): disjoint shards, no slices, one model per shard, majority vote.

By default the shard model is what the fairunlearn paper runs: BCE + L2 logistic regression (no
noise, no fairness penalty). ``learner`` names any other registered learner, whose parameters are
the ensemble's remaining keywords, e.g. cfdebias's 3-layer DNN for its Fig. 5; shard k is then
seeded with ``random_state + k``, so the shards differ in initialisation and a refit repeats it.

Shards: the training rows in a seeded random order cut into ``shards`` contiguous, equal parts —
the reference code cuts its (randomly split, hence shuffled) training set the same way. Rows are
identified by ``Split.index``, so unlearning finds the shards that held the forgotten rows and
refits only those, from scratch, on their remaining rows. A shard left with a single class cannot
be refitted: the request fails with a FairbenchError (the reference code silently reused stale
metrics there; fairunlearn.md §6.8), so the draw is recorded as a failure.

``predict_proba`` gives the share of shards voting for each class; ``predict`` is the majority
(binary: positive iff at least half the shards say so, 3 of 5; more classes: the most votes, ties
to the lower class).
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np

from ...core.errors import FairbenchError
from ...datasets.base import Split
from .._fitting import fit_on
from .._random import seed_from
from ..base import Learner, MethodEntry, Unlearner
from ..registry import METHODS, register_method

# The paper's SISA shards (fairunlearn): BCE + L2 logistic regression, no fairness penalty, no noise.
LOGISTIC_SHARD_DEFAULTS = {"l2": 1e-4, "gamma": 0.0, "penalty": "none", "sigma": 0.0, "tol": 1e-12, "max_iter": 100}


class ShardedEnsemble(Learner):
    """``shards`` models of ``learner``; every other keyword is a parameter of the shard learner
    (for the default fair_logreg, on top of ``LOGISTIC_SHARD_DEFAULTS``)."""

    _passthrough = "learner_params"

    def __init__(self, shards: int = 5, learner: str = "fair_logreg", random_state: int = 0, **learner_params: Any):
        self._store(locals())

    def _check_params(self) -> None:
        if int(self.shards) < 1:
            raise FairbenchError(f"SISA needs at least one shard, got {self.shards}")
        entry = METHODS.get(self.learner)
        if entry.kind != "learner":
            raise FairbenchError(f"SISA shards must be learners; '{self.learner}' is a {entry.kind}")
        self.shard_model(0, seed_from(self.random_state))._check_params()  # the shard parameters

    def shard_model(self, shard: int, seed: int) -> Any:
        if self.learner == "fair_logreg":  # every shard shares the seed, as the paper's noise-free shards
            params = {**LOGISTIC_SHARD_DEFAULTS, **self.learner_params, "random_state": seed}
        else:
            params = dict(self.learner_params)
            if "random_state" in inspect.signature(METHODS.get(self.learner).factory).parameters:
                params["random_state"] = seed + shard
        try:
            return METHODS.get(self.learner).factory(**params)
        except TypeError as exc:
            raise FairbenchError(f"SISA's {self.learner} shards rejected the parameters {sorted(params)}: {exc}") from None

    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray | None = None,
            index: np.ndarray | None = None) -> "ShardedEnsemble":
        self._check_params()
        self.seed_ = seed_from(self.random_state)  # the shard assignment and the shards' seeds
        if index is None:
            raise FairbenchError("SISA identifies rows by Split.index; the training split has none")
        index = np.asarray(index)
        if len(np.unique(index)) != len(index):
            raise FairbenchError("SISA identifies rows by Split.index, which must be unique")
        order = np.random.default_rng(self.seed_).permutation(len(index))
        shard_of_position = np.empty(len(index), dtype=np.int64)
        for shard, positions in enumerate(np.array_split(order, int(self.shards))):
            shard_of_position[positions] = shard
        sort = np.argsort(index)
        self.index_ = index[sort]
        self.shard_ = shard_of_position[sort]
        self.classes_ = np.unique(y)
        self.models_ = [self._fit_shard(Split(X, y, s).subset(shard_of_position == k), k) for k in range(int(self.shards))]
        return self

    def _fit_shard(self, rows: Split, shard: int) -> Any:
        if len(np.unique(rows.y)) < 2:
            raise FairbenchError(f"SISA shard {shard} holds a single class and cannot be fitted")
        return fit_on(self.shard_model(shard, self.seed_), rows)

    def shard_of(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index)
        at = np.clip(np.searchsorted(self.index_, index), 0, len(self.index_) - 1)
        if not np.array_equal(self.index_[at], index):
            raise FairbenchError("SISA was asked about rows it was not trained on")
        return self.shard_[at]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        votes = np.stack([np.asarray(model.predict(X)) for model in self.models_])  # (shards, n)
        return np.stack([(votes == label).mean(axis=0) for label in self.classes_], axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        share = self.predict_proba(X)
        if len(self.classes_) == 2:
            return self.classes_[(share[:, 1] >= 0.5).astype(np.int64)]
        return self.classes_[np.argmax(share, axis=1)]


class SisaUnlearner(Unlearner):
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        if not isinstance(model, ShardedEnsemble) or not hasattr(model, "models_"):
            raise FairbenchError("SISA unlearning needs a fitted sisa_ensemble base model")
        if forget.index is None or retain.index is None:
            raise FairbenchError("SISA unlearning identifies rows by Split.index; the splits have none")
        out = copy.copy(model)
        out.models_ = list(model.models_)
        retain_shard = model.shard_of(retain.index)
        for shard in np.unique(model.shard_of(forget.index)):
            rows = retain_shard == shard
            out.models_[shard] = model._fit_shard(retain.subset(rows), int(shard))
        keep = np.isin(model.index_, retain.index)
        out.index_, out.shard_ = model.index_[keep], model.shard_[keep]
        return out


register_method(
    MethodEntry(
        name="sisa_ensemble",
        kind="learner",
        factory=ShardedEnsemble,
        task="train_base",
        version="1",
        description="SISA base model: disjoint shards (BCE + L2 logistic regression, or any learner), majority vote",
        papers=("fairunlearn", "cfdebias"),
        model_family="ensemble",
    )
)
register_method(
    MethodEntry(
        name="sisa",
        kind="unlearner",
        factory=SisaUnlearner,
        task="unlearn",
        version="1",
        description="SISA unlearning (Bourtoule et al. 2020): refit the shards that held forgotten rows",
        papers=("fairunlearn", "cfdebias"),
        needs_model=("ensemble",),
    )
)
