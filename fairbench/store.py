"""The record store: hash-named run directories with a done marker (DomainBed style).

Layout: ``<results>/runs/<group>/seed-<seed>/`` holding ``record.json``, optional ``.npy`` arrays
(e.g. the forget indices) and a ``done`` marker. ``<group>`` hashes the resolved configuration
without its seed plus the code versions of the task and method, so all seeds of one cell sit
together. A run directory is assembled under a temporary name and renamed into place, so a
process killed mid-write leaves no half record; readers only trust directories with ``done``.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .core import settings
from .core.hashing import request_hash
from .core.status import RunFailure, RunStatus

DONE = "done"
RECORD = "record.json"
BY_REQUEST = "by-request"  # <results>/by-request/<request hash>/<group>: empty markers, one per run group

class RecordStore:
    def __init__(self, root: Path | None = None):
        if root is None:
            root = settings.results_dir()
        self.root = Path(root)
        self.runs = self.root / "runs"

    def run_dir(self, group: str, seed: int) -> Path:
        return self.runs / group / f"seed-{seed}"

    def has(self, group: str, seed: int) -> bool:
        return (self.run_dir(group, seed) / DONE).is_file()

    def load(self, group: str, seed: int) -> dict[str, Any]:
        with open(self.run_dir(group, seed) / RECORD) as handle:
            return json.load(handle)

    def load_array(self, group: str, seed: int, name: str) -> np.ndarray:
        return np.load(self.run_dir(group, seed) / f"{name}.npy")

    def groups_for_request(self, request_hash: str) -> list[str]:
        """Run groups made for one request (:func:`fairbench.core.hashing.request_hash`), oldest first:
        several when the code versions that key a group changed between runs."""
        folder = self.root / BY_REQUEST / request_hash
        if not folder.is_dir():
            return []
        markers = sorted(folder.iterdir(), key=lambda p: (p.stat().st_mtime, p.name))
        return [m.name for m in markers if (self.runs / m.name).is_dir()]

    def _index_request(self, group: str, request_hash: str) -> None:
        folder = self.root / BY_REQUEST / request_hash
        folder.mkdir(parents=True, exist_ok=True)
        (folder / group).touch()

    def seeds(self, group: str) -> list[int]:
        folder = self.runs / group
        if not folder.is_dir():
            return []
        found = []
        for child in folder.iterdir():
            if child.name.startswith("seed-") and (child / DONE).is_file():
                found.append(int(child.name[len("seed-"):]))
        return sorted(found)

    def load_object(self, group: str, seed: int, name: str) -> Any:
        with open(self.run_dir(group, seed) / f"{name}.pkl", "rb") as handle:
            return pickle.load(handle)

    def save(
        self,
        group: str,
        seed: int,
        record: dict[str, Any],
        arrays: dict[str, np.ndarray] | None = None,
        objects: dict[str, Any] | None = None,
    ) -> Path:
        """Write a run atomically; an existing run of the same key is replaced (``--force``)."""
        final = self.run_dir(group, seed)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".tmp-seed-{seed}-", dir=final.parent))
        for name, array in (arrays or {}).items():
            np.save(staging / f"{name}.npy", np.asarray(array))
        for name, obj in (objects or {}).items():
            with open(staging / f"{name}.pkl", "wb") as handle:
                pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)
        with open(staging / RECORD, "w") as handle:
            json.dump(record, handle, indent=1, sort_keys=True, default=_json_default)
            handle.flush()
            os.fsync(handle.fileno())
        (staging / DONE).touch()
        stale_failure = final.parent / f"failed-seed-{seed}.json"
        if final.exists():
            trash = final.parent / f".trash-{uuid.uuid4().hex}"
            os.rename(final, trash)
            os.rename(staging, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(staging, final)
        stale_failure.unlink(missing_ok=True)
        if "request" in record:
            self._index_request(group, request_hash(record["request"]))
        return final

    def save_failure(self, group: str, seed: int, config: dict[str, Any], failure: RunFailure) -> None:
        """Note why a run did not produce a record (read by the report layer for 'not run' reasons)."""
        folder = self.runs / group
        folder.mkdir(parents=True, exist_ok=True)
        note = {"config": config, **failure.to_json()}
        self._index_request(group, request_hash(config))
        fd, tmp = tempfile.mkstemp(prefix=".failure-", dir=folder)
        with os.fdopen(fd, "w") as handle:
            json.dump(note, handle, indent=1, default=_json_default)
        os.replace(tmp, self.failure_path(group, seed))

    def failure_path(self, group: str, seed: int) -> Path:
        """Where the note of a run that produced no record is kept (its traceback, when it crashed)."""
        return self.runs / group / f"failed-seed-{seed}.json"

    def failure(self, group: str) -> RunFailure | None:
        """The most recent failure of any seed of ``group`` that has no record."""
        folder = self.runs / group
        if not folder.is_dir():
            return None
        for note in sorted(folder.glob("failed-seed-*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
            seed = int(note.stem[len("failed-seed-"):])
            if not self.has(group, seed):
                with open(note) as handle:
                    data = json.load(handle)
                if "status" not in data:  # a note written before statuses were data: only its message is known
                    data = {"status": RunStatus.CRASHED.value, "message": data.get("message", "")}
                return RunFailure.from_json(data)
        return None

    def iter_records(self) -> Iterator[dict[str, Any]]:
        if not self.runs.is_dir():
            return
        for group in sorted(self.runs.iterdir()):
            for seed in self.seeds(group.name):
                yield self.load(group.name, seed)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable in a record: {type(obj).__name__}")
