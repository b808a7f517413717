"""Methods and a task with frozen versions for the renderer's golden test.

Record keys hash the task's and method's code versions; the golden records must not go stale when
a real method's version is bumped, so the golden spec names these stand-ins. They are never run:
the renderer only reads records.
"""

from fairbench.methods import METHODS, MethodEntry
from fairbench.runner.tasks import TASKS, TaskEntry


def _never_run(config):
    raise AssertionError("golden fixtures are rendered, never run")


def register() -> None:
    if "golden_task" not in TASKS:
        TASKS.register("golden_task", TaskEntry("golden_task", _never_run, "1", "frozen stand-in", ("params",),
                                                      parse=lambda config: config))
    for name in ("golden_ml", "golden_ftu"):
        if name not in METHODS:
            METHODS.register(name, MethodEntry(name, "predictor", _never_run, "golden_task", "1", "frozen stand-in"))
