"""Parameter checks shared by the methods' ``_check_params`` (one-line user errors)."""

from __future__ import annotations

from typing import Any, Iterable

from ..core.errors import FairbenchError


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    choices = list(choices)
    if value not in choices:
        raise FairbenchError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


def check_positive(**values: float) -> None:
    bad = [f"{k}={v}" for k, v in values.items() if not v > 0]
    if bad:
        raise FairbenchError(f"must be > 0: {', '.join(bad)}")


def check_nonnegative(**values: float) -> None:
    bad = [f"{k}={v}" for k, v in values.items() if not v >= 0]
    if bad:
        raise FairbenchError(f"must be >= 0: {', '.join(bad)}")
