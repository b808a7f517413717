"""Fitting a learner on a Split, and cloning it for refits.

Learners follow ``fit(X, y, s=None)`` (:mod:`.base`); one that identifies rows (SISA's shard
assignment) also declares ``index``, the split's row ids, in the scikit-learn way of optional fit
arguments (``sample_weight``-style).
"""

from __future__ import annotations

import inspect
from typing import Any

from sklearn.base import clone as sklearn_clone

from ..core.errors import FairbenchError
from ..datasets.base import Split


def fit_on(model: Any, split: Split) -> Any:
    extras = {"index": split.index} if "index" in inspect.signature(model.fit).parameters else {}
    return model.fit(split.X, split.y, split.s, **extras)  # a learner that needs a part the split lacks says so


def clone(model: Any) -> Any:
    """An unfitted copy with the same parameters (hence the same seeded randomness, e.g. noise b)."""
    if not hasattr(model, "get_params"):
        raise FairbenchError(f"{type(model).__name__} cannot be refitted: it has no get_params()")
    return sklearn_clone(model)
