"""Learners: the models that are trained, unlearned and evaluated (logistic, fair logistic, MLP, DNN, ResNets)."""

from ...core.plugins import import_submodules

import_submodules(__name__, __path__)
