"""A run's objects (trained models) as verified data files beside its record.

An object ``name`` is stored as two artifacts: ``<name>.json`` (the method's registry name, parameters and
fitted attributes, :mod:`fairbench.methods.state`) and ``<name>.npz`` (its arrays — a torch network's
state dict among them — read with ``allow_pickle=False``). The store lists both with their sha256 in the
record and refuses a file that does not match; the model is rebuilt through the registered constructor
of the record's method, so no file in a results folder can run code when it is loaded.

Records written before this format (a ``model.pkl`` and no artifact list) are not loaded: their outputs
count as missing (:func:`outputs_intact`), so the runner runs that job again before its dependants.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any, Mapping

import numpy as np

from ..core.errors import FairbenchError
from ..store import ArtifactError, RecordStore

# the methods' state (scikit-learn's estimator base, torch for a network) is imported where a model is
# stored or loaded, in the process that runs the job: planning and checking outputs need none of it


def object_files(name: str) -> tuple[str, str]:
    return f"{name}.json", f"{name}.npz"


def encode_objects(objects: Mapping[str, Any]) -> dict[str, bytes]:
    """The artifacts of a run's objects (TypeError for an object that cannot be stored as data)."""
    from ..methods.state import export_state

    files: dict[str, bytes] = {}
    for name, obj in objects.items():
        spec, arrays = export_state(obj)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        spec_file, arrays_file = object_files(name)
        files[spec_file] = json.dumps(spec, sort_keys=True).encode("utf-8")
        files[arrays_file] = buffer.getvalue()
    return files


def load_object(store: RecordStore, group: str, seed: int, record: Mapping[str, Any], name: str) -> Any:
    """Object ``name`` of a run, from its verified artifacts, rebuilt as the record's method
    (ArtifactError / StateError, one line naming the file, when it cannot be)."""
    spec_file, arrays_file = object_files(name)
    spec_bytes = store.load_artifact(group, seed, spec_file, record)
    arrays_bytes = store.load_artifact(group, seed, arrays_file, record)
    where = store.run_dir(group, seed)
    try:
        spec = json.loads(spec_bytes)
        with np.load(io.BytesIO(arrays_bytes), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"artifact {where / spec_file} or {where / arrays_file} is not readable data: {exc}") from None
    from ..methods.state import restore_state

    try:
        return restore_state(spec, arrays, expected=_object_method(record))
    except FairbenchError as exc:
        raise ArtifactError(f"artifact {where / spec_file}: {exc}") from None


def _object_method(record: Mapping[str, Any]) -> str | None:
    """The registry name a run's stored model must have: the learner of the model the run starts from
    when its config names one (a reference retrain keeps a model of the original's learner, not of the
    unlearner that made it), else the run's own method."""
    config = record.get("config", {})
    model = config.get("model")
    if isinstance(model, dict) and model.get("method"):
        return model["method"]
    return config.get("method")


def outputs_problem(store: RecordStore, group: str, seed: int) -> str | None:
    """Why a run's outputs cannot be used by a dependant: no record, or an object's artifact missing,
    unlisted or failing its sha256 (None when they are intact)."""
    if not store.has(group, seed):
        return f"{store.run_dir(group, seed)} has no record"
    try:
        record = store.load(group, seed)
    except (OSError, ValueError) as exc:
        return f"the record in {store.run_dir(group, seed)} cannot be read: {exc}"
    objects = record.get("objects", [])
    if not isinstance(objects, list) or not all(isinstance(name, str) for name in objects):
        return f"the record in {store.run_dir(group, seed)} lists its objects as {objects!r}, not as names"
    for name in objects:
        for file in object_files(name):
            problem = store.artifact_problem(group, seed, file, record)
            if problem is not None:
                return problem
    return None


def outputs_intact(store: RecordStore, group: str, seed: int) -> bool:
    return outputs_problem(store, group, seed) is None
