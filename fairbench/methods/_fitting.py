"""Fitting a learner on a Split, passing the extras its ``fit`` declares, and cloning for refits.

Learners follow ``fit(X, y)``; those that need more of a row than (X, y) at training time declare it
as keyword arguments in the scikit-learn way (``sample_weight``-style): ``s`` (the sensitive
attribute, e.g. a fairness penalty) and ``index`` (row ids, e.g. SISA's shard assignment).
"""

from __future__ import annotations

import inspect
from typing import Any

from ..core.errors import FairbenchError
from ..datasets.base import Split

EXTRAS = ("s", "index")


def fit_on(model: Any, split: Split) -> Any:
    accepted = inspect.signature(model.fit).parameters
    extras = {name: getattr(split, name) for name in EXTRAS if name in accepted}
    return model.fit(split.X, split.y, **extras)  # a learner that needs an extra the split lacks says so


def clone(model: Any) -> Any:
    """An unfitted copy with the same parameters (hence the same seeded randomness, e.g. noise b)."""
    if not hasattr(model, "get_params"):
        raise FairbenchError(f"{type(model).__name__} cannot be refitted: it has no get_params()")
    return type(model)(**model.get_params())
