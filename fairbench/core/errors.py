"""User-facing errors.

Anything a user can cause (bad arguments, missing or corrupt data, unknown names) raises
:class:`FairbenchError`; the CLI prints its message on one line and exits with code 2.
Programming errors stay ordinary exceptions so that they keep their tracebacks.
"""


class FairbenchError(Exception):
    """An error caused by input, configuration or data, reported without a traceback (exit 2)."""


class DataError(FairbenchError):
    """A dataset file is missing, corrupt, or cannot be fetched."""


class OfflineError(DataError):
    """Network access was needed while FAIRBENCH_OFFLINE=1."""
