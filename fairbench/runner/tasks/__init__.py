"""Task registry; task modules register themselves on import, one module at a time.

Planning a job asks the registry for its task (its configuration class, dependencies, version): only
that task's module is imported, found through the catalog (:func:`fairbench.catalog.catalog`, which
reads the ``register_task`` calls from the sources). A task module imports the methods, the datasets'
loaders and torch only where a run needs them, so planning (and refusing a misconfigured cell) stays
fast. Listing every task (``TASKS.items()``) imports them all, by the usual discovery rule.
"""

from __future__ import annotations

from ...catalog import catalog
from ...core.registry import ReadThrough
from .base import TASKS as _REGISTERED
from .base import Stored, TaskEntry, TaskResult, register_task

TASKS = ReadThrough(_REGISTERED, lambda: {name: info.module for name, info in catalog().tasks.items()}, __name__)

__all__ = ["TASKS", "Stored", "TaskEntry", "TaskResult", "register_task"]
