"""Recommenders: matrix factorisation and the debiasing estimators of the ultd paper."""

from ...core.plugins import import_submodules

import_submodules(__name__, __path__)
