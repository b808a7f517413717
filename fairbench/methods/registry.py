"""The method registry. Method modules register themselves on import, one module at a time.

Asking for a method (``METHODS.get(name)``) imports only the module that registers it, found through
the catalog (:func:`fairbench.catalog.catalog`, which reads the ``register_method`` calls from the
sources): a run of the fair logistic regression and its unlearners loads neither torch nor the other
methods. Names and ``in`` import nothing; ``METHODS.items()`` imports every method module.
"""

from __future__ import annotations

from ..catalog import catalog
from ..core.registry import ReadThrough, Registry
from .base import MethodEntry

_REGISTERED: Registry[MethodEntry] = Registry("method")
METHODS = ReadThrough(_REGISTERED, lambda: {name: info.module for name, info in catalog().methods.items()},
                      __package__)


def register_method(entry: MethodEntry) -> MethodEntry:
    METHODS.register(entry.name, entry)
    return entry
