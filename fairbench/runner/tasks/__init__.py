"""Task registry; task modules register themselves on import."""

from .base import TASKS, TaskEntry, TaskResult, register_task

from . import cf_discrete, train_model  # noqa: E402,F401

__all__ = ["TASKS", "TaskEntry", "TaskResult", "register_task"]
