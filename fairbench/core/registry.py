"""Name-keyed registries (DomainBed style) for datasets, methods, metrics, protocols, tasks."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

from .errors import FairbenchError
from .plugins import import_submodules

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


class ReadThrough(Registry[T]):
    """A registry filled on import, read through: an entry's module is imported when the entry is first
    asked for (``get``), found in ``modules()`` (every known name -> the dotted module that registers it,
    read from the sources without importing them: :func:`fairbench.catalog.catalog`). Names, ``in`` and
    ``len`` import nothing; ``items()`` imports the whole ``package`` by the usual discovery rule
    (:func:`~fairbench.core.plugins.import_submodules`, its sub-packages included)."""

    def __init__(self, registered: Registry[T], modules: Callable[[], Mapping[str, str]], package: str):
        super().__init__(registered.kind)
        self._registered = registered
        self._read_modules = modules
        self._module_of: Mapping[str, str] | None = None
        self._package = package

    def _modules(self) -> Mapping[str, str]:
        """``modules()``, read once: the sources it reads do not change under a running process."""
        if self._module_of is None:
            self._module_of = self._read_modules()
        return self._module_of

    def register(self, name: str, obj: T | None = None) -> Any:
        return self._registered.register(name, obj)

    def get(self, name: str) -> T:
        if name not in self:
            raise FairbenchError(f"unknown {self.kind} '{name}'; known: {', '.join(self.names()) or '(none)'}")
        if name not in self._registered:
            importlib.import_module(self._modules()[name])
        return self._registered.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._registered or name in self._modules()

    def names(self) -> list[str]:
        return sorted(set(self._modules()) | set(self._registered.names()))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        package = importlib.import_module(self._package)
        import_submodules(package.__name__, package.__path__, recursive=True)
        return self._registered.items()

    def loaded(self) -> list[tuple[str, T]]:
        """The entries whose modules are imported already (imports nothing)."""
        return self._registered.items()

    def __len__(self) -> int:
        return len(self.names())


def lookup(registry: Registry[Callable[..., Any]], name: str) -> Callable[..., Any]:
    return registry.get(name)
