"""Interfaces every method implements, scikit-learn style, and the method registry entry.

- :class:`Learner`: ``fit(X, y)`` / ``predict_proba(X)``.
- :class:`Preprocessor`: ``fit(X, s)`` / ``transform(X, s)`` so that e.g. OB composes with any learner.
- :class:`GroupAwarePredictor`: ``fit(X, s, y)`` / ``predict_proba(X, s)``, the f(s, a) of the
  counterfactual-fairness papers; the evaluation switches ``s`` and the features separately.
- :class:`Unlearner`: ``unlearn(model, forget, retain) -> model``, shared by every unlearning method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from ..datasets.base import Split


@runtime_checkable
class Learner(Protocol):
    def fit(self, X: np.ndarray, y: np.ndarray) -> "Learner": ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Preprocessor(Protocol):
    def fit(self, X: np.ndarray, s: np.ndarray) -> "Preprocessor": ...

    def transform(self, X: np.ndarray, s: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class GroupAwarePredictor(Protocol):
    def fit(self, X: np.ndarray, s: np.ndarray, y: np.ndarray) -> "GroupAwarePredictor": ...

    def predict_proba(self, X: np.ndarray, s: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Unlearner(Protocol):
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any: ...


@dataclass(frozen=True)
class MethodEntry:
    """A registered method.

    ``factory(**params)`` builds the component; ``task`` is the experiment it is run under by
    ``fairbench run``; ``version`` is part of every record key, so bump it when results change.
    """

    name: str
    kind: str  # "predictor", "preprocessor", "learner", "unlearner", "recommender"
    factory: Callable[..., Any]
    task: str
    version: str
    description: str
    papers: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
