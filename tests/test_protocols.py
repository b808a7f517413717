"""Deletion protocols: sizes, disjointness, union, determinism, every error path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fairbench.core.errors import FairbenchError
from fairbench.datasets.base import Dataset, Split
from fairbench.protocols import PROTOCOLS, make_deletion

N = 200


def _dataset(with_extra: bool = True) -> Dataset:
    rng = np.random.default_rng(123)
    y = np.repeat(np.arange(4), N // 4)  # 50 rows per class
    s = np.r_[np.zeros(140, dtype=np.int64), np.ones(60, dtype=np.int64)]  # group 1 is the minority
    s = s[rng.permutation(N)]
    train = Split(X=rng.normal(size=(N, 3)), y=y, s=s, index=np.arange(N))
    test = Split(X=rng.normal(size=(20, 3)), y=np.arange(20) % 4, s=np.arange(20) % 2)
    extra = {}
    if with_extra:
        extra["pose"] = Split(X=np.zeros((N, 0)), y=np.arange(N) % 3)  # bins 0, 1, 2
        patched = np.zeros(N, dtype=np.int64)
        patched[(y == 2) & (np.arange(N) % 2 == 0)] = 1  # 25 patched birds
        patched[:10] = 1  # 10 patched rows of class 0
        extra["patched"] = Split(X=np.zeros((N, 0)), y=patched)
    return Dataset(
        name="toy", train=train, test=test, task="multiclass",
        group_names={0: "male", 1: "female"}, privileged=0,
        class_names=["airplane", "automobile", "bird", "cat"], extra=extra,
    )


def _check(d, n=N):
    assert d.forget.dtype == np.int64 and d.retain.dtype == np.int64
    assert np.all(np.diff(d.forget) > 0) and np.all(np.diff(d.retain) > 0)
    assert len(np.intersect1d(d.forget, d.retain)) == 0
    assert np.array_equal(np.union1d(d.forget, d.retain), np.arange(n))
    json.dumps(d.meta)  # JSON-serialisable
    assert d.meta["n_forget"] == len(d.forget) and d.meta["n_train"] == n


CASES = [
    ("uniform", {"fraction": 0.1}, 20),
    ("uniform", {"fraction": "0.25"}, 50),
    ("class", {"classes": [1, "cat"]}, 100),
    ("class", {"k": 2}, 100),
    ("selective_class", {"target_class": "bird", "fraction": 0.4}, 20),
    ("subgroup", {"group": "minority", "fraction": 0.1}, 20),
    ("subgroup", {"group": "majority", "fraction": 0.1, "fraction_of": "group"}, 14),
    ("subgroup", {"group": "female", "fraction": 0.3, "fraction_of": "group"}, 18),
    ("subgroup", {"group": "unprivileged", "fraction": 0.3, "fraction_of": "group"}, 18),
    ("subgroup", {"group": 0, "fraction": 0.5}, 100),
    ("pose", {}, 66),
    ("pose", {"pose_bin": "close-up", "fraction": 0.5}, 34),
    ("patch", {}, 35),
    ("patch", {"target_class": "bird"}, 25),
    ("patch", {"target_class": 2, "fraction": 0.2}, 5),
]


@pytest.mark.parametrize("name,params,size", CASES)
def test_sizes_disjoint_union(name, params, size):
    d = make_deletion(name, _dataset(), 0, **params)
    _check(d)
    assert len(d.forget) == size
    assert d.meta["protocol"] == name
    assert d.meta["seed"] == 0


@pytest.mark.parametrize("name,params,size", CASES)
def test_deterministic_by_seed(name, params, size):
    ds = _dataset()
    a = make_deletion(name, ds, 7, **params)
    b = make_deletion(name, ds, 7, **params)
    assert np.array_equal(a.forget, b.forget) and np.array_equal(a.retain, b.retain) and a.meta == b.meta
    whole = (name == "class" and "classes" in params) or (name == "pose" and not params) or \
            (name == "patch" and params.get("fraction", 1.0) == 1.0)
    c = make_deletion(name, ds, 8, **params)
    if not whole:  # a random draw: a different seed gives a different set
        assert not np.array_equal(a.forget, c.forget)


def test_rows_come_from_the_right_place():
    ds = _dataset()
    d = make_deletion("selective_class", ds, 0, target_class=2, fraction=0.5)
    assert np.all(ds.train.y[d.forget] == 2) and d.meta["fraction_of"] == "class" and d.meta["class_name"] == "bird"
    d = make_deletion("class", ds, 0, classes=["automobile", 3])
    assert set(ds.train.y[d.forget]) == {1, 3} and d.meta["classes"] == [1, 3]
    d = make_deletion("class", ds, 3, k=1)
    assert len(set(ds.train.y[d.forget])) == 1 and d.meta["drawn_by_seed"]
    d = make_deletion("subgroup", ds, 0, group="minority", fraction=0.1)
    assert np.all(ds.train.s[d.forget] == 1)
    assert d.meta["group"] == 1 and d.meta["group_name"] == "female" and d.meta["fraction_of"] == "train"
    d = make_deletion("pose", ds, 0, pose_bin=1, fraction=0.5)
    assert np.all(ds.extra["pose"].y[d.forget] == 1) and d.meta["fraction_of"] == "pose_bin"
    d = make_deletion("patch", ds, 0, target_class="bird")
    assert np.all(ds.extra["patched"].y[d.forget] == 1) and np.all(ds.train.y[d.forget] == 2)


def test_uniform_rounding():
    d = make_deletion("uniform", _dataset(), 0, fraction=0.0125)  # 2.5 -> 2 (half to even)
    assert len(d.forget) == 2


def test_subgroup_cap():
    ds = _dataset()
    with pytest.raises(FairbenchError, match="holds only 60"):
        make_deletion("subgroup", ds, 0, group="minority", fraction=0.4)
    d = make_deletion("subgroup", ds, 0, group="minority", fraction=0.4, cap=True)
    _check(d)
    assert len(d.forget) == 60 and d.meta["capped"] and d.meta["m_requested"] == 80
    d = make_deletion("subgroup", ds, 0, group="minority", fraction=0.2, cap="true")
    assert len(d.forget) == 40 and not d.meta["capped"]


ERRORS = [
    ("uniform", {"fraction": 0}, "fraction"),
    ("uniform", {"fraction": 1}, "fraction"),
    ("uniform", {"fraction": -0.2}, "fraction"),
    ("uniform", {"fraction": "abc"}, "fraction"),
    ("uniform", {"fraction": True}, "fraction"),
    ("uniform", {"fraction": 0.001}, "empty"),
    ("uniform", {}, "missing"),
    ("uniform", {"fraction": 0.1, "frac": 1}, "unknown parameter"),
    ("class", {}, "exactly one"),
    ("class", {"classes": [1], "k": 1}, "exactly one"),
    ("class", {"classes": [9]}, "unknown class"),
    ("class", {"classes": ["dog"]}, "unknown class"),
    ("class", {"classes": [0, 1, 2, 3]}, "every training row"),
    ("class", {"k": 4}, "k must be"),
    ("class", {"k": 0}, "k must be"),
    ("class", {"k": "two"}, "k must be an integer"),
    ("selective_class", {"fraction": 0.5}, "missing"),
    ("selective_class", {"target_class": 2}, "missing"),
    ("selective_class", {"target_class": 7, "fraction": 0.5}, "unknown class"),
    ("selective_class", {"target_class": 2, "fraction": 1.0}, "fraction"),
    ("subgroup", {"group": "minority"}, "missing"),
    ("subgroup", {"group": "nobody", "fraction": 0.1}, "unknown group"),
    ("subgroup", {"group": 5, "fraction": 0.1}, "unknown group"),
    ("subgroup", {"group": "minority", "fraction": 0.1, "fraction_of": "dataset"}, "fraction_of"),
    ("subgroup", {"group": "minority", "fraction": 0.1, "cap": "maybe"}, "cap"),
    ("subgroup", {"group": "minority", "fraction": 0.5}, "holds only"),
    ("pose", {"pose_bin": 5}, "unknown pose bin"),
    ("pose", {"pose_bin": "far"}, "unknown pose bin"),
    ("pose", {"fraction": 1.5}, "fraction"),
    ("pose", {"bin": 2}, "unknown parameter"),
    ("patch", {"target_class": "cat"}, "no patched training rows"),
    ("patch", {"target_class": "dog"}, "unknown class"),
    ("patch", {"fraction": 0}, "fraction"),
]


@pytest.mark.parametrize("name,params,match", ERRORS)
def test_errors(name, params, match):
    with pytest.raises(FairbenchError, match=match):
        make_deletion(name, _dataset(), 0, **params)


def test_missing_annotations_and_sensitive():
    bare = _dataset(with_extra=False)
    with pytest.raises(FairbenchError, match="does not provide pose annotations"):
        make_deletion("pose", bare, 0)
    with pytest.raises(FairbenchError, match="does not provide patch annotations"):
        make_deletion("patch", bare, 0)
    ds = _dataset()
    ds.extra["pose"] = Split(X=np.zeros((5, 0)), y=np.zeros(5))
    with pytest.raises(FairbenchError, match="one per training row"):
        make_deletion("pose", ds, 0)
    ds = _dataset()
    ds.train.s = None
    with pytest.raises(FairbenchError, match="no sensitive attribute"):
        make_deletion("subgroup", ds, 0, group="minority", fraction=0.1)
    ds.train.s = np.random.default_rng(0).normal(size=(N, 2))
    with pytest.raises(FairbenchError, match="1-D discrete"):
        make_deletion("subgroup", ds, 0, group="minority", fraction=0.1)
    ds = _dataset()
    ds.privileged = None
    with pytest.raises(FairbenchError, match="no privileged group"):
        make_deletion("subgroup", ds, 0, group="unprivileged", fraction=0.1)


def test_registry_descriptions():
    for name in ("uniform", "class", "selective_class", "subgroup", "pose", "patch"):
        info = PROTOCOLS.get(name)
        assert info.description and info.params
    assert "fraction_of" in PROTOCOLS.get("subgroup").params
    with pytest.raises(FairbenchError):
        make_deletion("nope", _dataset(), 0)
