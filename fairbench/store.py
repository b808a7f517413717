"""The record store: hash-named run directories with a done marker (DomainBed style).

Layout: ``<results>/runs/<group>/seed-<seed>/`` holding ``record.json``, its artifacts (``.npy`` arrays
such as the forget indices, a trained model as ``.json`` + ``.npz``) and a ``done`` marker. ``<group>``
hashes the resolved configuration without its seed plus the code versions of the task and method, so
all seeds of one cell sit together.

Writes are atomic and durable: a run directory is assembled under a temporary name, every file
fsynced (:mod:`fairbench.core.atomic`), renamed into place and the folder fsynced, so a process killed
mid-write leaves no half record; readers only trust directories with ``done``. Writers of a group
take an exclusive ``fcntl`` lock on its folder, so concurrent saves of one key (two ``reproduce``
processes on one results folder) follow each other; the lock holder also removes what a killed writer
left behind.

Artifacts are verified: the record lists every file beside it with its sha256 (``artifacts``), and
:meth:`RecordStore.load_artifact` refuses a file that is not listed or does not match, with one line
naming it. Nothing in a results folder is ever unpickled: a results folder may come from someone else.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .core import atomic, settings
from .core.errors import FairbenchError
from .core.hashing import request_hash, request_of
from .core.status import RunFailure, RunStatus

DONE = "done"
RECORD = "record.json"
BY_REQUEST = "by-request"  # <results>/by-request/<request hash>/<group>: empty markers, one per run group
STAGING_PREFIX = ".tmp-seed-"
TRASH_PREFIX = ".trash-seed-"


class ArtifactError(FairbenchError):
    """A file beside a record is missing, not listed in the record, or differs from its listed sha256."""


class ResultsNotWritable(FairbenchError):
    """The results folder is read-only or full: nothing can be stored (one line, exit 2)."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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

    def _verified(self, group: str, seed: int, name: str, record: Mapping[str, Any]) -> tuple[bytes | None, str]:
        """(the bytes of artifact ``name``, "") when they match the sha256 its record lists, else (None, why)."""
        path = self.run_dir(group, seed) / name
        if not _plain_name(name):
            return None, f"artifact name {name!r} in the record of {path.parent} is not a plain file name"
        listed = (record.get("artifacts") or {}).get(name)
        if not isinstance(listed, dict) or not isinstance(listed.get("sha256"), str):
            return None, (f"artifact {path} is not listed with a sha256 in its record (stored by an older "
                          f"fairbench, or placed by hand); it is not used")
        try:
            data = path.read_bytes()
        except OSError as exc:
            return None, f"artifact {path} cannot be read: {exc.strerror or exc}"
        digest = sha256_of(data)
        if digest != listed["sha256"]:
            return None, (f"artifact {path} failed verification: sha256 {digest[:16]}… differs from its "
                          f"record's {listed['sha256'][:16]}…")
        return data, ""

    def artifact_problem(self, group: str, seed: int, name: str, record: Mapping[str, Any]) -> str | None:
        """Why artifact ``name`` of a run cannot be trusted (None when it matches its record)."""
        return self._verified(group, seed, name, record)[1] or None

    def load_artifact(self, group: str, seed: int, name: str, record: Mapping[str, Any] | None = None) -> bytes:
        """The bytes of artifact ``name``, verified against the sha256 its record lists (ArtifactError otherwise)."""
        data, problem = self._verified(group, seed, name, self.load(group, seed) if record is None else record)
        if data is None:
            raise ArtifactError(problem)
        return data

    def load_array(self, group: str, seed: int, name: str) -> np.ndarray:
        return np.load(io.BytesIO(self.load_artifact(group, seed, f"{name}.npy")), allow_pickle=False)

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

    def index_request(self, group: str, request: dict[str, Any]) -> None:
        """File an existing run group under ``request`` (idempotent): records written before records
        carried their request have the same run key but no index entry, so the report would not find them."""
        marker = self.root / BY_REQUEST / request_hash(request) / group
        if not marker.exists():
            with self._writing():
                self._index_request(group, request_hash(request))

    def seeds(self, group: str) -> list[int]:
        folder = self.runs / group
        if not folder.is_dir():
            return []
        found = []
        for child in folder.iterdir():
            if child.name.startswith("seed-") and (child / DONE).is_file():
                found.append(int(child.name[len("seed-"):]))
        return sorted(found)

    def check_writable(self) -> None:
        """Refuse (one line) a results folder that cannot take a record, before any job runs."""
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
            atomic.temporary_path(self.runs / ".write-probe").unlink()
        except OSError as exc:  # whatever the errno (read-only, full, a file in the way): unusable
            raise self._not_writable(exc) from None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            if not atomic.is_unwritable(exc):
                raise
            raise self._not_writable(exc) from None

    def _not_writable(self, exc: OSError) -> ResultsNotWritable:
        reason = atomic.describe_unwritable(exc)
        fix = "free space or point" if reason in ("full", "over quota") else "point"
        return ResultsNotWritable(f"the results folder {self.root} is {reason} ({exc.strerror or exc}); "
                                  f"{fix} FAIRBENCH_RESULTS to a writable folder")

    @contextlib.contextmanager
    def _group_lock(self, group: str) -> Iterator[Path]:
        """Exclusive write access to the runs of ``group`` (an ``fcntl`` lock on its folder); yields the folder."""
        folder = self.runs / group
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Every writer of the group holds the lock while it stages, so staging or trash folders found
            # now were left by a killed writer.
            for prefix in (STAGING_PREFIX, TRASH_PREFIX):
                for leftover in folder.glob(f"{prefix}*"):
                    shutil.rmtree(leftover, ignore_errors=True)
            yield folder
        finally:
            os.close(fd)  # releases the lock

    def save(
        self,
        group: str,
        seed: int,
        record: dict[str, Any],
        arrays: Mapping[str, np.ndarray] | None = None,
        artifacts: Mapping[str, bytes] | None = None,
    ) -> Path:
        """Write a run atomically, listing every file beside the record with its sha256 (``artifacts``:
        further files by name, e.g. a model's ``model.json`` / ``model.npz``); an existing run of the same
        key is replaced (``--force``)."""
        files = {f"{name}.npy": _npy_bytes(array) for name, array in (arrays or {}).items()}
        files.update(artifacts or {})
        for name in files:
            if name in (RECORD, DONE) or not _plain_name(name):
                raise ValueError(f"an artifact cannot be named {name!r}")
        record = {**record, "artifacts": {name: {"sha256": sha256_of(data), "bytes": len(data)}
                                          for name, data in sorted(files.items())}}
        text = json.dumps(record, indent=1, sort_keys=True, default=_json_default)  # TypeError before any write
        final = self.run_dir(group, seed)
        with self._writing(), self._group_lock(group) as folder:
            staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{seed}-", dir=folder))
            try:
                for name, data in files.items():
                    atomic.write_bytes(staging / name, data, make_parents=False)
                atomic.write_text(staging / RECORD, text, make_parents=False)
                atomic.write_bytes(staging / DONE, b"", make_parents=False)
                if final.exists():
                    trash = folder / f"{TRASH_PREFIX}{seed}-{uuid.uuid4().hex}"
                    os.rename(final, trash)
                    os.rename(staging, final)
                    shutil.rmtree(trash, ignore_errors=True)
                else:
                    os.rename(staging, final)
                atomic.fsync_dir(folder)
            finally:
                shutil.rmtree(staging, ignore_errors=True)  # nothing left when the rename happened
            (folder / f"failed-seed-{seed}.json").unlink(missing_ok=True)
            if "request" in record:
                self._index_request(group, request_hash(record["request"]))
        return final

    def save_failure(self, group: str, seed: int, config: dict[str, Any], failure: RunFailure,
                     request: dict[str, Any] | None = None) -> None:
        """Note why a run did not produce a record (read by the report layer for 'not run' reasons),
        filed under the run's ``request`` like its record would be (default: ``config`` as given)."""
        request = request_of(config) if request is None else request
        note = {"request": request, "config": config, **failure.to_json()}
        text = json.dumps(note, indent=1, default=_json_default)
        with self._writing(), self._group_lock(group) as folder:
            self._index_request(group, request_hash(request))
            atomic.write_text(self.failure_path(group, seed), text, make_parents=False)

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


def _plain_name(name: Any) -> bool:
    """A file name in the run folder itself (no folder part, not hidden)."""
    return isinstance(name, str) and bool(name) and Path(name).name == name and not name.startswith(".")


def _npy_bytes(array: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable in a record: {type(obj).__name__}")
