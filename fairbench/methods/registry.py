"""The method registry. Method modules register themselves on import."""

from __future__ import annotations

from ..core.registry import Registry
from .base import MethodEntry

METHODS: Registry[MethodEntry] = Registry("method")


def register_method(entry: MethodEntry) -> MethodEntry:
    METHODS.register(entry.name, entry)
    return entry
