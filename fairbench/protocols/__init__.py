"""Deletion protocols (uniform, class, selective_class, subgroup, pose, patch)."""

from .base import PROTOCOLS, Deletion, ProtocolInfo, make_deletion, register_protocol

from . import tabular, vision  # noqa: E402,F401  (register on import)

__all__ = ["PROTOCOLS", "Deletion", "ProtocolInfo", "make_deletion", "register_protocol"]
