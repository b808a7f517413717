"""Methods, grouped by role, each in its own file:

- :mod:`.learners` — models that are trained and unlearned (logistic, fair logistic, MLP, DNN);
- :mod:`.fairness` — group-aware predictors and counterfactually fair preprocessors (ob, sob, flap, ...);
- :mod:`.unlearning` — unlearners, all sharing ``unlearn(model, forget, retain) -> model``;
- :mod:`.recsys` — recommenders (matrix factorisation and the debiasing estimators of ultd).

The contract of each role (scikit-learn style parameters, ``fit(X, y, s)``, randomness only through
``random_state``) is written in :mod:`.base`; ``docs/contributing-methods.md`` walks through adding one.

A method that is not implemented is simply not registered; tables render its cells as not run.

Importing this package imports no method: :data:`METHODS` imports a method's module when the method is
asked for (and every module for ``METHODS.items()``), so a job loads only what it runs.
"""

from .base import CounterfactualModel, GroupAwarePredictor, Learner, Method, MethodEntry, Preprocessor, Unlearner
from .registry import METHODS, register_method

__all__ = ["METHODS", "CounterfactualModel", "GroupAwarePredictor", "Learner", "Method", "MethodEntry", "Preprocessor",
           "Unlearner", "register_method"]
