"""Deletion protocols: (dataset, seed, params) -> (forget, retain) index sets into the training split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..core.registry import Registry
from ..datasets.base import Dataset


@dataclass
class Deletion:
    """Disjoint, sorted int64 index arrays into ``dataset.train`` whose union is all training rows."""

    forget: np.ndarray
    retain: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)  # protocol, resolved params, what fractions are of
    # A stream of deletion requests (protocol ``sequential``): disjoint sorted index arrays, in the order
    # they are applied, whose union is ``forget``; None for a single deletion.
    batches: tuple[np.ndarray, ...] | None = None


ProtocolFn = Callable[..., Deletion]  # fn(dataset: Dataset, seed: int, **params) -> Deletion


@dataclass(frozen=True)
class ProtocolInfo:
    name: str
    fn: ProtocolFn
    description: str
    params: dict[str, str]  # parameter name -> meaning


PROTOCOLS: Registry[ProtocolInfo] = Registry("protocol")


def register_protocol(name: str, description: str, params: dict[str, str]):
    def decorate(fn: ProtocolFn) -> ProtocolFn:
        PROTOCOLS.register(name, ProtocolInfo(name, fn, description, params))
        return fn

    return decorate


def make_deletion(name: str, dataset: Dataset, seed: int, **params: Any) -> Deletion:
    """Run protocol ``name``; bad parameters raise :class:`~fairbench.core.errors.FairbenchError`."""
    return PROTOCOLS.get(name).fn(dataset, seed, **params)
