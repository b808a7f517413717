"""Statuses as data: what happened to a run, and what a rendered cell shows.

Every layer passes these values (and the structured fields of :class:`RunFailure`) instead of
messages to be parsed: the runner writes them into failure notes, the report layer reads them.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class RunStatus(str, enum.Enum):
    """The outcome of one job (a cell's run for one seed)."""

    RAN = "ran"  # a record was written
    REUSED = "reused"  # a done record with the same key already existed
    MISSING_DATA = "missing-data"  # a dataset file is absent or cannot be fetched here (``missing_data`` names it)
    NOT_IMPLEMENTED = "not-implemented"  # a method or dataset variant the run needs is not registered (``missing_methods``)
    INVALID = "invalid"  # a user error in the run's configuration or input
    CRASHED = "crashed"  # a bug: the note keeps the traceback


class CellStatus(str, enum.Enum):
    """What a rendered table cell says about our value against the paper's."""

    REPRODUCED = "reproduced"  # within the cell's tolerance
    DEVIATES = "deviates"  # outside it, or a declared deviation (the reason says which)
    NOT_RUN = "not-run"  # no record (the reason says why)
    REPORTED_ONLY = "reported-only"  # the paper's value is shown, never asserted
    NO_REFERENCE = "no-reference"  # ours, where the paper prints no number
    STAND_IN = "stand-in"  # ours at a stand-in scale (e.g. --scale mini): never compared with the paper


@dataclass(frozen=True)
class RunFailure:
    """Why a job produced no record, as stored beside the run (``failed-seed-<seed>.json``)."""

    status: RunStatus
    message: str
    missing_data: tuple[str, ...] = ()  # dataset names, e.g. ("hsls",)
    missing_methods: tuple[str, ...] = ()  # unregistered methods or dataset variants, e.g. ("ori", "cub200@cobum")
    traceback: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        out["missing_data"] = list(self.missing_data)
        out["missing_methods"] = list(self.missing_methods)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunFailure":
        return cls(
            status=RunStatus(data["status"]),
            message=str(data.get("message", "")),
            missing_data=tuple(data.get("missing_data") or ()),
            missing_methods=tuple(data.get("missing_methods") or ()),
            traceback=str(data.get("traceback", "")),
            extra=dict(data.get("extra") or {}),
        )

    @property
    def blocks_here(self) -> bool:
        """True when the run cannot succeed on this machine as it is (data or method absent):
        ``check`` skips such cells instead of counting them as regressions."""
        return self.status in (RunStatus.MISSING_DATA, RunStatus.NOT_IMPLEMENTED)
