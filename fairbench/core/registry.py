"""Name-keyed registries (DomainBed style) for datasets, methods, metrics, protocols, tasks."""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import FairbenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to registered objects with a helpful error for unknown names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""

        def _add(value: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._entries[name] = value
            return value

        if obj is not None:
            return _add(obj)
        return _add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise FairbenchError(f"unknown {self.kind} '{name}'; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._entries.items())

    def __len__(self) -> int:
        return len(self._entries)


def lookup(registry: Registry[Callable[..., Any]], name: str) -> Callable[..., Any]:
    return registry.get(name)
