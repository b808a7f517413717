"""The method contract of :mod:`fairbench.methods.base`, checked for every registered method.

Constructors only store (sentinel values come back from ``get_params`` unchanged), parameters
round-trip through ``set_params`` and ``sklearn.base.clone``, ``fit`` takes the sensitive attribute
after the labels, and a method's randomness comes from ``random_state`` alone: two runs with the same
value are bit-identical even when the global numpy / torch generators were moved in between.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, clone

import fairbench.methods
from fairbench.datasets.base import Split
from fairbench.methods import METHODS
from fairbench.methods._fitting import fit_on
from fairbench.methods.base import KINDS, GroupAwarePredictor, Learner, Method, Unlearner
from fairbench.methods.recsys._mf import Recommender

ROLE = {"learner": Learner, "predictor": GroupAwarePredictor, "unlearner": Unlearner, "recommender": Recommender}
NAMES = METHODS.names()

# Settings that keep one fit or unlearn call well under a second.
FAST_RECOMMENDER = {"emb_dim": 4, "max_epochs": 2, "patience": 1}
FAST = {
    "dnn": {"epochs": 2}, "sisa_ensemble": {"shards": 2, "learner": "dnn", "epochs": 1},
    "mlp": {"epochs": 2}, "ob": {"k": 2, "epochs": 2}, "sob": {"k": 2, "epochs": 2},
    "adv": {"epochs": 1, "draws": 2, "vae": {"epochs": 1, "adversary_steps": 1, "first_epoch_adversary_steps": 1}},
    "scrub": {"epochs": 1}, "puma": {"cg_iterations": 3},
    "cfdebias": {"epochs": 1, "vae": {"hidden": [8], "epochs": 1, "min_steps": 5}, "cf_search": {"max_iter": 3}},
    "ultd-tp": {**FAST_RECOMMENDER, "g_epochs": 1},
    "resnet18": {"pretrained": "none", "epochs": 1}, "resnet34": {"pretrained": "none", "epochs": 1},
    "resnet_mini": {"epochs": 1},
    "ga": {"epochs": 1}, "scrub_cobum": {"epochs": 1}, "fmd_finetune": {"epochs": 1},
    "lora": {"epochs": 1, "blocks": ["head"]},  # the DNN's body has no named blocks
}
IMAGE_LEARNERS = ("resnet18", "resnet34", "resnet_mini")  # fitted on uint8 images instead of table rows
REGRESSORS = ("mlp", "adv", "ob", "sob")  # group-aware predictors with predict(X, s) (continuous tables)
BASE_MODEL = {"newton": "fair_logreg", "fair_unlearning": "fair_logreg", "pru": "fair_logreg",
              "sisa": "sisa_ensemble", "fmd_newton": "resnet_mini"}  # what the other unlearners start from: the DNN
IMAGE_UNLEARNERS = ("fmd_newton",)  # masks a patch of images: runs on the image learner


def _entry_class(name: str) -> type:
    factory = METHODS.get(name).factory
    assert inspect.isclass(factory), f"{name}: the registry's factory is the method's class"
    return factory


@pytest.mark.parametrize("name", NAMES)
def test_role_and_parameter_handling(name):
    entry, cls = METHODS.get(name), _entry_class(name)
    assert entry.kind in KINDS and issubclass(cls, ROLE[entry.kind])
    for klass in cls.__mro__:  # parameters come from the signature, never from a hand-written list
        if klass not in (Method, BaseEstimator):
            assert "get_params" not in vars(klass) and "set_params" not in vars(klass), klass
    names = cls._get_param_names()
    sentinels = {param: object() for param in names}
    extra = {"shard_setting": object()} if cls._passthrough else {}
    model = cls(**sentinels, **extra)  # a constructor that validated or converted would fail or copy here
    params = model.get_params(deep=False)
    assert set(params) == set(names) | set(extra)
    assert all(params[key] is value for key, value in {**sentinels, **extra}.items())

    default = cls()
    before = default.get_params(deep=False)
    assert default.set_params(**before).get_params(deep=False) == before
    copy = clone(default)
    assert type(copy) is cls and copy.get_params(deep=False) == before
    if "random_state" in names:
        assert default.set_params(random_state=11).random_state == 11


@pytest.mark.parametrize("name", NAMES)
def test_fit_signature_per_role(name):
    entry, cls = METHODS.get(name), _entry_class(name)
    if entry.kind == "unlearner":
        assert list(inspect.signature(cls.unlearn).parameters)[1:] == ["model", "forget", "retain"]
        assert list(inspect.signature(cls.prepare).parameters)[1:] == ["model", "train"]
        return
    fit = list(inspect.signature(cls.fit).parameters)[1:]
    expected = ["X", "y"] if entry.kind == "recommender" else ["X", "y", "s"]
    assert fit[: len(expected)] == expected, fit


def _tabular(seed: int = 0, n: int = 60):
    rng = np.random.default_rng(seed)
    s = (rng.random(n) < 0.5).astype(np.int64)
    X = np.column_stack([s, rng.normal(size=(n, 3))])
    y = ((X[:, 1] + 0.5 * s + 0.3 * rng.normal(size=n)) > 0).astype(np.int64)
    return Split(X, y, s, index=np.arange(100, 100 + n))


def _images(seed: int = 0, n: int = 16):
    rng = np.random.default_rng(seed)
    return Split(rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), np.arange(n) % 2, index=np.arange(n))


def _ratings(seed: int = 0, n_users: int = 12, n_items: int = 10):
    rng = np.random.default_rng(seed)
    pairs = np.array([(u, i) for u in range(n_users) for i in range(n_items)])
    pick = rng.permutation(len(pairs))
    def part(rows):
        return pairs[rows], (rng.random(len(rows)) < 0.4).astype(np.int64)
    (X, y), (Xa, ya), (Xv, yv) = part(pick[:50]), part(pick[50:70]), part(pick[70:90])
    return {"X": X, "y": y, "n_users": n_users, "n_items": n_items, "X_unbiased": Xa, "y_unbiased": ya,
            "X_valid": Xv, "y_valid": yv}


@pytest.fixture(scope="module")
def base_models():
    train = _tabular()
    models = {name: fit_on(METHODS.get(name).factory(**FAST.get(name, {}), random_state=1), train)
              for name in ("dnn", "fair_logreg")}
    models["sisa_ensemble"] = fit_on(METHODS.get("sisa_ensemble").factory(shards=2), train)
    models["resnet_mini"] = fit_on(METHODS.get("resnet_mini").factory(**FAST["resnet_mini"]), _images())
    return train, models


def _run(name: str, random_state: int, base_models) -> np.ndarray:
    entry = METHODS.get(name)
    params = {**(FAST_RECOMMENDER if entry.kind == "recommender" else {}), **FAST.get(name, {})}
    if "random_state" in entry.factory._get_param_names():
        params["random_state"] = random_state
    model = entry.factory(**params)
    train, models = base_models
    if entry.kind == "learner":
        if name in IMAGE_LEARNERS:
            train = _images()
        return fit_on(model, train).predict_proba(train.X)
    if entry.kind == "predictor":
        model.fit(train.X, train.y.astype(float) if name in REGRESSORS else train.y, train.s)
        return model.predict(train.X, train.s) if name in REGRESSORS else model.predict_proba(train.X, train.s)
    if entry.kind == "unlearner":
        original = models[BASE_MODEL.get(name, "dnn")]
        if name in IMAGE_UNLEARNERS:
            train = _images()
        forget = np.arange(len(train)) < 10
        if model.receives:  # cobum's SCRUB: a teacher; FMD: the bias (the rows' s as pose bins), a patch
            context = {"reference": models["dnn"], "dataset_meta": {"fairness": {"bias": "pose"},
                                                                    "patch": {"row": 0, "col": 0, "size": 2}}}
            model.receive(**{name: context[name] for name in model.receives})
        model.prepare(original, train)
        return model.unlearn(original, train.subset(forget), train.subset(~forget)).predict_proba(train.X)
    data = _ratings()
    return model.fit(**data).predict_proba(data["X_valid"])


@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_same_result_whatever_the_global_state(name, base_models):
    torch.manual_seed(0)
    np.random.seed(0)
    first = _run(name, 5, base_models)
    torch.manual_seed(123)  # another job ran before in the same process
    torch.rand(7)
    np.random.seed(123)
    np.random.rand(7)
    state = torch.get_rng_state()
    second = _run(name, 5, base_models)
    np.testing.assert_array_equal(first, second)
    assert torch.equal(torch.get_rng_state(), state)  # nor does the method move the global generator


def test_registrations_are_literal():
    """The lazy catalog reads ``register_method(MethodEntry(...))`` calls with ``ast`` without importing."""
    found = {}
    for path in Path(fairbench.methods.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "MethodEntry":
                keywords = {k.arg: k.value for k in node.keywords}
                assert not node.args and {"name", "kind", "factory", "task", "version", "description"} <= set(keywords)
                values = {k: ast.literal_eval(v) for k, v in keywords.items() if k != "factory"}
                found[values["name"]] = values
    assert sorted(found) == NAMES
    for name, values in found.items():
        entry = METHODS.get(name)
        assert (values["kind"], values["task"], values["version"]) == (entry.kind, entry.task, entry.version)
