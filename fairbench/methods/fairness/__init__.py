"""Fairness methods: group-aware predictors and counterfactually fair preprocessors (ob, sob, flap, ...)."""

from ...core.plugins import import_submodules

import_submodules(__name__, __path__)
