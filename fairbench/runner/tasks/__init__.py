"""Task registry; task modules register themselves on import."""

from .base import TASKS, Stored, TaskEntry, TaskResult, register_task

from ...core.plugins import import_submodules

import_submodules(__name__, __path__)

__all__ = ["TASKS", "Stored", "TaskEntry", "TaskResult", "register_task"]
