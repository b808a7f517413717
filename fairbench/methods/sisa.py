"""SISA (Bourtoule et al. 2020) as the fairunlearn paper runs it: disjoint shards, no slices,
one BCE + L2 logistic model per shard (no noise, no fairness penalty), majority vote.

Shards: the training rows in a seeded random order cut into ``shards`` contiguous, equal parts —
the reference code cuts its (randomly split, hence shuffled) training set the same way. Rows are
identified by ``Split.index``, so unlearning finds the shards that held the forgotten rows and
refits only those, from scratch, on their remaining rows. A shard left with a single class cannot
be refitted: the request fails with a FairbenchError (the reference code silently reused stale
metrics there; fairunlearn.md §6.8), so the draw is recorded as a failure.

``predict_proba`` gives the share of shards voting for each class; ``predict`` is the majority
(positive iff at least half the shards say so: 3 of 5).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..core.errors import FairbenchError
from ..datasets.base import Split
from .base import MethodEntry
from .fair_logistic import FairLogisticRegression
from .registry import register_method


class ShardedEnsemble:
    """``shards`` fair_logreg models; the shard parameters are fair_logreg's, defaulting to the
    paper's SISA shards (BCE + L2: no fairness penalty, no noise)."""

    def __init__(self, shards: int = 5, l2: float = 1e-4, gamma: float = 0.0, penalty: str = "none",
                 sigma: float = 0.0, random_state: int = 0, tol: float = 1e-12, max_iter: int = 100):
        if int(shards) < 1:
            raise FairbenchError(f"SISA needs at least one shard, got {shards}")
        self.shards = int(shards)
        self.random_state = int(random_state)
        self.shard_params = {"l2": l2, "gamma": gamma, "penalty": penalty, "sigma": sigma,
                             "random_state": random_state, "tol": tol, "max_iter": max_iter}
        self.shard_model()  # validates the shard parameters now

    def get_params(self) -> dict:
        return {"shards": self.shards, **self.shard_params}

    def shard_model(self) -> FairLogisticRegression:
        return FairLogisticRegression(**self.shard_params)

    def fit(self, X: np.ndarray, y: np.ndarray, index: np.ndarray, s: np.ndarray | None = None) -> "ShardedEnsemble":
        if index is None:
            raise FairbenchError("SISA identifies rows by Split.index; the training split has none")
        index = np.asarray(index)
        if len(np.unique(index)) != len(index):
            raise FairbenchError("SISA identifies rows by Split.index, which must be unique")
        order = np.random.default_rng(self.random_state).permutation(len(index))
        shard_of_position = np.empty(len(index), dtype=np.int64)
        for shard, positions in enumerate(np.array_split(order, self.shards)):
            shard_of_position[positions] = shard
        sort = np.argsort(index)
        self.index_ = index[sort]
        self.shard_ = shard_of_position[sort]
        self.models_ = [self._fit_shard(Split(X, y, s).subset(shard_of_position == k), k) for k in range(self.shards)]
        return self

    def _fit_shard(self, rows: Split, shard: int) -> FairLogisticRegression:
        if len(np.unique(rows.y)) < 2:
            raise FairbenchError(f"SISA shard {shard} holds a single class and cannot be fitted")
        return self.shard_model().fit(rows.X, rows.y, s=rows.s)

    def shard_of(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index)
        at = np.clip(np.searchsorted(self.index_, index), 0, len(self.index_) - 1)
        if not np.array_equal(self.index_[at], index):
            raise FairbenchError("SISA was asked about rows it was not trained on")
        return self.shard_[at]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        votes = np.mean([model.predict(X) for model in self.models_], axis=0)
        return np.column_stack([1 - votes, votes])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


class SisaUnlearner:
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
        description="SISA base model: disjoint shards of BCE + L2 logistic regression, majority vote",
        papers=("fairunlearn",),
        defaults={"shards": 5, "l2": 1e-4},
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
        papers=("fairunlearn",),
    )
)
