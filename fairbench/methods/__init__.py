"""Methods: predictors, preprocessors, learners and unlearners, each in its own file.

A method that is not implemented is simply not registered; tables render its cells as not run.
"""

from .base import GroupAwarePredictor, Learner, MethodEntry, Preprocessor, Unlearner
from .registry import METHODS, register_method

from ..core.plugins import import_submodules

import_submodules(__name__, __path__)

__all__ = ["METHODS", "GroupAwarePredictor", "Learner", "MethodEntry", "Preprocessor", "Unlearner", "register_method"]
