"""Trained models are stored as data (issue 13): every stored learner comes back bit-identical, a file
that does not match its record's sha256 is refused naming it, and nothing in a results folder is
unpickled — a planted pickle in a copied results folder never runs."""

from __future__ import annotations

import io
import json
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fairbench.core.status import RunStatus
from fairbench.methods import METHODS
from fairbench.methods.state import StateError, export_state, restore_state
from fairbench.runner.artifacts import encode_objects, load_object, outputs_intact
from fairbench.runner.jobs import make_job, run_job
from fairbench.runner.reproduce import run_with_dependencies
from fairbench.store import ArtifactError, RecordStore

REPO = Path(__file__).resolve().parents[1]
STORED_LEARNERS = {  # every learner registered under train_base, with parameters that exercise its state
    "logreg": {"l2": 1e-3},
    "fair_logreg": {"gamma": 0.5, "sigma": 1.0, "random_state": 3},
    "dnn": {"hidden": (8, 4), "epochs": 2, "batch_size": 32, "random_state": 1},
    "sisa_ensemble": {"shards": 3, "random_state": 2},
    "sisa_ensemble-dnn": {"shards": 2, "learner": "dnn", "hidden": (6,), "epochs": 1, "batch_size": 16},
    "resnet_mini": {"widths": (4, 8), "epochs": 1, "batch_size": 64, "random_state": 1},
    "resnet18": {"pretrained": "none", "epochs": 1, "batch_size": 120},
    "resnet34": {"pretrained": "none", "epochs": 1, "batch_size": 120},
}
IMAGE_LEARNERS = ("resnet_mini", "resnet18", "resnet34")  # fitted on uint8 images (n, 8, 8, 3)


def _data(seed: int = 0, images: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (240, 8, 8, 3), dtype=np.uint8) if images else rng.normal(size=(240, 5))
    s = (rng.random(240) < 0.4).astype(np.int64)
    y = np.arange(240) % 3 if images else ((X[:, 0] + 0.5 * s + 0.3 * rng.normal(size=240)) > 0).astype(np.int64)
    return X, y, s, np.arange(1000, 1240)


def _fitted(name: str):
    X, y, s, index = _data(images=name in IMAGE_LEARNERS)
    model = METHODS.get(name.split("-")[0]).factory(**STORED_LEARNERS[name])
    if name.startswith("sisa"):
        return model.fit(X, y, s, index=index)
    return model.fit(X, y, s)


def _roundtrip(model, expected: str):
    store_files = encode_objects({"model": model})
    spec = json.loads(store_files["model.json"])
    with np.load(io.BytesIO(store_files["model.npz"]), allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    return restore_state(spec, arrays, expected=expected)


def test_every_stored_learner_is_covered():
    assert {name for name, entry in METHODS.items() if entry.task == "train_base"} == {
        name.split("-")[0] for name in STORED_LEARNERS}


@pytest.mark.parametrize("name", sorted(STORED_LEARNERS))
def test_a_rebuilt_model_predicts_bit_identically(name):
    model = _fitted(name)
    rebuilt = _roundtrip(model, name.split("-")[0])
    assert type(rebuilt) is type(model)
    assert rebuilt.get_params() == model.get_params()
    X_new = _data(seed=7, images=name in IMAGE_LEARNERS)[0]
    np.testing.assert_array_equal(rebuilt.predict_proba(X_new), model.predict_proba(X_new))
    if hasattr(model, "predict"):
        np.testing.assert_array_equal(rebuilt.predict(X_new), model.predict(X_new))
    if hasattr(model, "coef_"):
        np.testing.assert_array_equal(rebuilt.coef_, model.coef_)


def test_the_class_comes_from_the_records_method_and_must_be_a_learner():
    spec, arrays = export_state(_fitted("logreg"))
    with pytest.raises(StateError, match="its record says 'fair_logreg'"):
        restore_state(spec, arrays, expected="fair_logreg")
    with pytest.raises(StateError, match="only learners"):
        restore_state({**spec, "estimator": "newton"}, arrays)
    with pytest.raises(StateError, match="no registered method"):
        restore_state({**spec, "estimator": "os.system"}, arrays)
    with pytest.raises(StateError, match="fitted attribute"):
        restore_state({**spec, "fitted": {"__class__": 1}}, arrays)


def test_object_arrays_are_refused_both_ways(tmp_path):
    model = _fitted("logreg")
    model.coef_ = np.array([object()], dtype=object)
    with pytest.raises(TypeError):
        encode_objects({"model": model})
    store = RecordStore(tmp_path)
    good = encode_objects({"model": _fitted("logreg")})
    malicious = tmp_path / "evil.npz"
    np.savez(malicious, a0=np.array([{"x": 1}], dtype=object))  # an object array is a pickle inside the zip
    record = {"config": {"method": "logreg"}, "objects": ["model"]}
    store.save("g", 0, record, artifacts={**good, "model.npz": malicious.read_bytes()})
    with pytest.raises(ArtifactError, match="model"):
        load_object(store, "g", 0, store.load("g", 0), "model")


def test_a_tampered_or_unlisted_artifact_is_refused_naming_it(tmp_path):
    store = RecordStore(tmp_path)
    record = {"config": {"method": "logreg"}, "objects": ["model"]}
    store.save("g", 0, record, artifacts=encode_objects({"model": _fitted("logreg")}))
    assert outputs_intact(store, "g", 0)
    assert load_object(store, "g", 0, store.load("g", 0), "model").coef_.shape == (6,)
    npz = store.run_dir("g", 0) / "model.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    npz.write_bytes(bytes(data))
    assert not outputs_intact(store, "g", 0)
    with pytest.raises(ArtifactError, match=r"artifact .*model\.npz failed verification"):
        load_object(store, "g", 0, store.load("g", 0), "model")
    old = {k: v for k, v in store.load("g", 0).items() if k != "artifacts"}  # a record of an older fairbench
    with pytest.raises(ArtifactError, match=r"model\.json is not listed"):
        load_object(store, "g", 0, old, "model")
    record = store.load("g", 0)
    (store.run_dir("g", 0) / "record.json").write_text(json.dumps({**record, "objects": {"model": 1}}))
    assert not outputs_intact(store, "g", 0)
    with pytest.raises(ArtifactError, match="not a plain file name"):
        store.load_artifact("g", 0, "../../escape.json", {"artifacts": {"../../escape.json": {"sha256": "0"}}})


def test_no_code_in_the_package_unpickles_or_loads_torch_files_unsafely():
    offenders = []
    for path in (REPO / "fairbench").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"pickle\.loads?\(|cloudpickle|joblib\.load|dill\.load", line):
                offenders.append(f"{path}:{number}: {line.strip()}")
            if "torch.load(" in line and "weights_only=True" not in line:
                offenders.append(f"{path}:{number}: {line.strip()}")
            if re.search(r"np\.load\(", line) and "allow_pickle=True" in line:
                offenders.append(f"{path}:{number}: {line.strip()}")
    assert offenders == []


class WritesMarker:
    """Unpickling this writes a marker file: the planted-pickle attack of issue 13 (its pickle called os.system)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


UNLEARN = {"task": "unlearn", "method": "newton", "dataset": "compas@fairunlearn",
           "model": {"method": "fair_logreg", "params": {"penalty": "none", "sigma": 1.0}},
           "protocol": {"name": "uniform", "fraction": 0.05}}


def test_a_planted_pickle_in_a_copied_results_folder_never_runs(fb_env, monkeypatch, tmp_path):
    job = make_job({**UNLEARN, "seed": 0})
    original = dict(job.needs)["original"]
    store = RecordStore()
    assert [o.status for o in run_with_dependencies(job, store)] == [RunStatus.RAN] * 3  # original, reference, job
    reference = store.load(job.group, job.seed)["metrics"]

    copied = tmp_path / "copied"
    shutil.copytree(store.root, copied)
    marker = tmp_path / "marker"
    base_dir = copied / "runs" / original.group / f"seed-{original.seed}"
    (base_dir / "model.pkl").write_bytes(pickle.dumps(WritesMarker(marker)))
    # the pre-#13 layout: a pickle, no model.json/.npz, no artifact list; and the attacker's choice of hashes
    for name in ("model.json", "model.npz"):
        (base_dir / name).unlink()
    record = json.loads((base_dir / "record.json").read_text())
    record.pop("artifacts")
    (base_dir / "record.json").write_text(json.dumps(record))
    shutil.rmtree(copied / "runs" / job.group)  # one unlearning record removed: resume will need the model

    monkeypatch.setenv("FAIRBENCH_RESULTS", str(copied))
    copied_store = RecordStore()
    assert not outputs_intact(copied_store, original.group, original.seed)
    outcomes = run_with_dependencies(job, copied_store)  # the resume: the original is retrained, not unpickled
    assert [o.job.key for o in outcomes] == [original.key, job.key]
    assert not marker.exists()
    assert copied_store.load(job.group, job.seed)["metrics"]["test_accuracy"] == reference["test_accuracy"]

    # a dependant run directly against a record whose model fails verification fails with one line naming it
    npz = base_dir / "model.npz"
    npz.write_bytes(npz.read_bytes() + b"tampered")
    outcome = run_job(job, copied)
    assert outcome.status is RunStatus.INVALID and "model.npz failed verification" in outcome.message
    assert not marker.exists()
