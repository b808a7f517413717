"""Task registry; task modules register themselves on import, one module at a time.

Planning a job asks the registry for its task (its configuration class, dependencies, version): only
that task's module is imported, found through the catalog (:func:`fairbench.catalog.catalog`, which
reads the ``register_task`` calls from the sources). A task module imports the methods, the datasets'
loaders and torch only where a run needs them, so planning (and refusing a misconfigured cell) stays
fast. Listing every task (``TASKS.items()``) imports them all, by the usual discovery rule.
"""

from __future__ import annotations

import importlib
from typing import Iterator

from ...catalog import catalog
from ...core.errors import FairbenchError
from ...core.plugins import import_submodules
from ...core.registry import Registry
from .base import TASKS as _REGISTERED
from .base import Stored, TaskEntry, TaskResult, register_task


class _Tasks(Registry[TaskEntry]):
    """The task registry, read through: a task's module is imported when the task is first asked for."""

    def __init__(self, registered: Registry[TaskEntry]):
        super().__init__(registered.kind)
        self._registered = registered

    def register(self, name, obj=None):
        return self._registered.register(name, obj)

    def get(self, name: str) -> TaskEntry:
        if name not in self:
            raise FairbenchError(f"unknown task '{name}'; known: {', '.join(self.names()) or '(none)'}")
        if name not in self._registered:
            importlib.import_module(catalog().tasks[name].module)
        return self._registered.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._registered or name in catalog().tasks

    def names(self) -> list[str]:
        return sorted(set(catalog().tasks) | set(self._registered.names()))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, TaskEntry]]:
        import_submodules(__name__, __path__)
        return self._registered.items()

    def __len__(self) -> int:
        return len(self.names())


TASKS = _Tasks(_REGISTERED)

__all__ = ["TASKS", "Stored", "TaskEntry", "TaskResult", "register_task"]
