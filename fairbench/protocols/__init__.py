"""Deletion protocols (uniform, class, selective_class, subgroup, pose, patch)."""

from .base import PROTOCOLS, Deletion, ProtocolInfo, make_deletion, register_protocol

from ..core.plugins import import_submodules

import_submodules(__name__, __path__)

__all__ = ["PROTOCOLS", "Deletion", "ProtocolInfo", "make_deletion", "register_protocol"]
