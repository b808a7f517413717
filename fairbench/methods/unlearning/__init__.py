"""Unlearners: every method shares ``unlearn(model, forget, retain) -> model``."""

from ...core.plugins import import_submodules

import_submodules(__name__, __path__)
