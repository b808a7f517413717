"""The method contract, one per role, scikit-learn style — the one place it is written down.

Every method is a class deriving from one of the role bases below, which derive from
:class:`sklearn.base.BaseEstimator`; the registry entry's ``factory`` is that class.

**Parameters.** ``__init__`` declares every parameter explicitly (no ``*args``; ``**kwargs`` only
where a role base collects them, see :class:`Method`) and only stores each one unchanged on an
attribute of the same name (``self._store(locals())`` does exactly that). Validation and conversion happen in :meth:`Method._check_params`,
called at the start of ``fit`` / ``unlearn``. So ``get_params()`` returns exactly what was passed,
``set_params(**get_params())`` and :func:`sklearn.base.clone` round-trip, and a clone refitted on
other rows repeats the original's randomness. Constructor defaults are the method's defaults: a
table cell that gives no parameter gets them (there is no second set of defaults in the registry).

**Randomness.** A method that draws anything takes ``random_state`` and draws only from it: numpy
``Generator``\\ s, ``torch.Generator``\\ s, or a ``torch.random.fork_rng`` scope seeded from it (for
module initialisation and for code that draws from torch's default generator), see
:mod:`._random`. No method reads or advances the global numpy/torch state, so its result does not
depend on what ran before it in the process. ``random_state=None`` means fresh OS entropy.

**Threads.** Methods that run torch wrap their work in :func:`._threads.limited_threads`.

Roles (``MethodEntry.kind``), all taking the sensitive attribute *after* the labels:

- :class:`Learner` (``"learner"``): ``fit(X, y, s=None)`` / ``predict_proba(X)`` (and ``predict``);
  ``s`` is used by fairness-penalised objectives; a learner that identifies rows (SISA) also takes
  ``index=`` (:func:`._fitting.fit_on` passes it when ``fit`` declares it).
- :class:`Preprocessor` (a part of a predictor, not registered on its own): ``fit(X, y, s)`` /
  ``transform(X, s)`` (``y`` may be None), so that e.g. OB composes with any predictor.
- :class:`GroupAwarePredictor` (``"predictor"``): ``fit(X, y, s)`` / ``predict_proba(X, s)``
  (classifiers) or ``predict(X, s)`` (regressors) — the f(s, a) of the counterfactual-fairness
  papers; the evaluation switches ``s`` and the features separately.
- :class:`CounterfactualModel`: ``fit(X, y, s)`` / ``counterfactual(X, y, s, s_new)`` (a generator
  of counterfactual rows, e.g. the adversarial VAE of Adv).
- :class:`Unlearner` (``"unlearner"``): ``unlearn(model, forget, retain) -> model``; optional
  ``prepare(model, train)`` (deletion-independent work, timed separately; default: nothing) and
  ``report_`` (numbers about the last ``unlearn`` call; default: empty). An unlearner that needs more of
  the run than its three arguments names it in ``receives`` (from :data:`CONTEXT`); the task hands it in
  through ``receive(**context)`` before ``prepare`` (cobum's SCRUB gets its teacher, the run's retrained
  reference, this way; FMD the dataset's bias description).
- :class:`~.recsys._mf.Recommender` (``"recommender"``): ``fit(X, y, *, n_users, n_items,
  X_unbiased=None, y_unbiased=None, X_valid=None, y_valid=None, monitor=None)`` /
  ``predict_proba(X)`` with ``X`` the (user, item) id pairs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np
from sklearn.base import BaseEstimator

from ..core.errors import FairbenchError
from ..datasets.base import Split

KINDS = ("predictor", "learner", "unlearner", "recommender")
# What an unlearner may receive from its run besides (model, forget, retain):
# "reference": the run's reference model (the exact-unlearning oracle, e.g. the model retrained on D_r);
# "dataset_meta": the dataset's ``meta`` (e.g. ``fairness``: the bias it carries, ``patch``: where a patch sits).
CONTEXT = ("reference", "dataset_meta")


class Method(BaseEstimator):
    """Parameter handling shared by every role: ``get_params`` / ``set_params`` from the signature.

    A subclass whose ``__init__`` passes ``**kwargs`` on to its base's ``__init__`` (the recommenders'
    shared settings) exposes the parameters of the whole chain of constructors. A method whose
    ``**kwargs`` are the parameters of a part it builds (SISA's shard learner) stores them as a dict on
    the attribute named by ``_passthrough``; they are its parameters too.
    """

    _passthrough: str | None = None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep)
        if self._passthrough:
            params.update(getattr(self, self._passthrough))
        return params

    def _store(self, arguments: Mapping[str, Any]) -> None:
        """``self._store(locals())`` in ``__init__``: every parameter of this class found among the
        constructor's arguments, stored unchanged under its own name (``**base`` is stored by the base)."""
        names = set(self._get_param_names()) | ({self._passthrough} if self._passthrough else set())
        for name in names & arguments.keys():
            setattr(self, name, arguments[name])

    def set_params(self, **params: Any) -> "Method":
        if self._passthrough:
            own = set(self._get_param_names())
            extra = {key: params.pop(key) for key in list(params) if key not in own}
            setattr(self, self._passthrough, {**getattr(self, self._passthrough), **extra})
        return super().set_params(**params)

    @classmethod
    def _get_param_names(cls) -> list[str]:
        names: set[str] = set()
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            params = inspect.signature(init).parameters.values()
            names |= {p.name for p in params if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
            if not any(p.kind == p.VAR_KEYWORD for p in params):
                break  # this constructor takes nothing on behalf of its bases
        return sorted(names)

    def _check_params(self) -> None:
        """Validate the stored parameters (one-line FairbenchError); called by ``fit`` / ``unlearn``."""


class Learner(Method):
    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray | None = None) -> "Learner":
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Preprocessor(Method):
    def fit(self, X: np.ndarray, y: np.ndarray | None, s: np.ndarray) -> "Preprocessor":
        raise NotImplementedError

    def transform(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit_transform(self, X: np.ndarray, y: np.ndarray | None, s: np.ndarray) -> np.ndarray:
        return self.fit(X, y, s).transform(X, s)


class GroupAwarePredictor(Method):
    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray) -> "GroupAwarePredictor":
        raise NotImplementedError


class CounterfactualModel(Method):
    def fit(self, X: np.ndarray, y: np.ndarray, s: np.ndarray) -> "CounterfactualModel":
        raise NotImplementedError

    def counterfactual(self, X: np.ndarray, y: np.ndarray, s: np.ndarray, s_new: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Unlearner(Method):
    report_: Mapping[str, float] = MappingProxyType({})  # numbers about the last unlearn call
    receives: tuple[str, ...] = ()  # the parts of CONTEXT this unlearner needs from its run
    context_: Mapping[str, Any] = MappingProxyType({})  # what the run handed in (``receive``)

    def receive(self, **context: Any) -> "Unlearner":
        """Keep what the run hands in: exactly the names in ``receives`` (the time it takes to produce
        them, e.g. training the reference, is not this unlearner's)."""
        if not set(self.receives) <= set(CONTEXT):
            raise FairbenchError(f"{type(self).__name__} receives {sorted(self.receives)}; a run gives only {CONTEXT}")
        if set(context) != set(self.receives):
            raise FairbenchError(f"{type(self).__name__} receives {sorted(self.receives)}, was handed {sorted(context)}")
        self.context_ = MappingProxyType(dict(context))
        return self

    def received(self, name: str) -> Any:
        """What the run handed in under ``name``: a one-line error when it handed nothing (a run without it)."""
        if self.context_.get(name) is None:
            raise FairbenchError(f"{type(self).__name__} needs the run's {name.replace('_', ' ')}, and it has none"
                                 + (" (give the run a reference: retrain)" if name == "reference" else ""))
        return self.context_[name]

    def prepare(self, model: Any, train: Split) -> None:
        """Deletion-independent work on the original model and its training rows (optional)."""

    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class MethodEntry:
    """A registered method.

    ``factory(**params)`` builds the component (the method's class: its constructor defaults are the
    method's defaults); ``task`` is the experiment it is run under by ``fairbench run``; ``version`` is
    part of every record key, so bump it when results change. Keep every ``register_method(MethodEntry(
    ...))`` call's keyword arguments literal: the lazy catalog reads them with ``ast`` without importing.
    """

    name: str
    kind: str  # one of KINDS
    factory: Callable[..., Any]
    task: str
    version: str
    description: str
    papers: tuple[str, ...] = ()
    # What the method fits or unlearns, for the unlearning matrix (benchmarks/matrix.yaml) to pair them
    # without a hand-kept list: a learner names the family of model it fits (``model_family``: "convex"
    # for a strictly convex linear model with parameters θ, "network" for a torch network, "ensemble" for
    # a sharded ensemble); an unlearner names the families it can unlearn (``needs_model``; empty: any
    # model, e.g. retraining).
    model_family: str = ""
    needs_model: tuple[str, ...] = ()
