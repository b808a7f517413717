"""Stable hashes of configurations and files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal configs give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable in a config: {type(obj).__name__}")


def config_hash(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def request_of(config: dict[str, Any]) -> dict[str, Any]:
    """A run's request: its configuration as asked for (a table cell's ``run`` merged with the scale's
    block, or ``fairbench run``'s options), without the seed and without keys set to None.

    The report layer finds a cell's records by the hash of this request alone, so it needs neither
    the runner's resolution (defaults, task) nor the methods' code to render or check a table."""
    return {key: value for key, value in config.items() if key != "seed" and value is not None}


def request_hash(config: dict[str, Any]) -> str:
    return config_hash(request_of(config))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
