"""Every registered dataset loads from the offline mirror into a temporary cache, with the documented shapes.

The mirror is ``$FAIRBENCH_MIRROR`` or, when that is unset, ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import missing_data_reason
from fairbench.core.errors import FairbenchError
from fairbench.datasets import DATASETS, ensure_files, load_dataset, verify_source
from fairbench.datasets._preprocessing import fit_pca_legacy_sign, pca_legacy_sign
from fairbench.datasets.download import file_digest

REPO = Path(__file__).resolve().parents[1]


def _mirror() -> Path | None:
    value = os.environ.get("FAIRBENCH_MIRROR")
    if value:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (REPO / path)
    default = REPO.parent / "shared" / "data"
    return default if default.is_dir() else None


MIRROR = _mirror()
needs_mirror = pytest.mark.skipif(MIRROR is None, reason=missing_data_reason())


@pytest.fixture(scope="session")
def data_env(tmp_path_factory):
    """FAIRBENCH_MIRROR -> the mirror, FAIRBENCH_DATA -> a session-wide temporary cache, offline."""
    if MIRROR is None:
        pytest.skip(missing_data_reason())
    cache = tmp_path_factory.mktemp("fairbench-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRBENCH_MIRROR", str(MIRROR))
        mp.setenv("FAIRBENCH_DATA", str(cache))
        mp.setenv("FAIRBENCH_OFFLINE", "1")  # tests never use the network
        yield cache


def _in_mirror(name: str) -> bool:
    """Generators, and datasets whose files the mirror holds; the others (image sets, KuaiRec,
    Yahoo! R3) are tested on generated files in the real layout by their own test modules."""
    source = DATASETS.get(name).source
    if not source.files:
        return not source.obtain_note  # a generator, unless the data must be obtained by the user
    return MIRROR is not None and all((MIRROR / name / f.name).is_file() for f in source.files)


def _specs() -> list[str]:
    return [name if variant == "default" else f"{name}@{variant}" for name in DATASETS.names() if _in_mirror(name)
            for variant in sorted(DATASETS.get(name).variants)]


def _load_fresh(spec: str, seed: int = 0, **params):
    """Run the loader directly (load_dataset memoises)."""
    name, _, variant = spec.partition("@")
    entry = DATASETS.get(name)
    return entry.variants[variant or "default"](ensure_files(entry.source), seed=seed, **params)


# (train rows, test rows, features) documented in shared/data/SOURCES.md and the loader docstrings
EXPECTED = {
    "adult": (30_162, 15_060, None),
    "adult@flap": (32_561, 16_281, 12),
    "adult@flap-corrected": (32_561, 16_281, 12),
    "adult@flap-text": (32_561, 16_281, 12),
    "adult@fairunlearn": (37_157, 9_290, 20),
    "adult@cfdebias": (30_162, 15_060, None),
    "german": (700, 300, None),
    "german@cfdebias": (800, 200, None),
    "crime": (1_794, 200, 121),
    "hsls": (7_571, 3_246, 9),
    "hsls@fairunlearn": (8_653, 2_164, 10),
    "coat": (6_960, 4_640, 2),
    "fashion_mnist": (60_000, 10_000, None),
    "synthetic_loan": (4_000, 1_000, 2),
    "synthetic_insurance": (4_000, 1_000, 24),
}
TABULAR = {"binary", "multiclass", "regression"}


@needs_mirror
@pytest.mark.parametrize("spec", _specs())
def test_every_variant_loads(data_env, spec):
    ds = load_dataset(spec, seed=0)
    assert ds.task in {"binary", "multiclass", "regression", "ratings", "images"}
    for split in (ds.train, ds.test):
        assert len(split.X) == len(split.y) > 0
        if split.s is not None:
            assert len(split.s) == len(split.y)
            assert split.s.ndim in (1, 2)
        if split.index is not None:
            assert len(np.unique(split.index)) == len(split.index)
        if ds.task in TABULAR:
            assert split.X.dtype == np.float64 and split.X.ndim == 2
            assert not np.isnan(split.X).any(), f"{spec}: NaN in X"
            assert split.X.shape[1] == len(ds.feature_names)
    if ds.task in TABULAR and ds.train.s is not None and ds.train.s.ndim == 1:
        assert set(np.unique(ds.train.s)) <= set(ds.group_names)
    json.dumps(ds.meta)  # JSON-serialisable
    # load_dataset records the verified digest of every file
    entry = DATASETS.get(spec.partition("@")[0])
    for f in entry.source.files:
        assert ds.meta["files"][f.name] in f.sha256


@needs_mirror
@pytest.mark.parametrize("spec", sorted(EXPECTED))
def test_documented_shapes(data_env, spec):
    ds = load_dataset(spec, seed=0)
    n_train, n_test, p = EXPECTED[spec]
    assert (len(ds.train), len(ds.test)) == (n_train, n_test)
    if p is not None:
        assert ds.train.X.shape[1] == ds.test.X.shape[1] == p


@needs_mirror
def test_cached_files_verify(data_env):
    from fairbench.core import settings

    for name in DATASETS.names():
        source = DATASETS.get(name).source
        if not all((settings.mirror_dir() / name / f.name).is_file() for f in source.files):
            continue  # not mirrored (the image archives): nothing here to verify
        ensure_files(source)
        assert all(status.state == "ok" for status in verify_source(source)), name


@needs_mirror
@pytest.mark.parametrize(
    "spec",
    ["adult", "adult@flap", "german", "german@cfdebias", "crime", "hsls", "hsls@fairunlearn", "adult@fairunlearn",
     "synthetic_loan", "synthetic_insurance"],
)
def test_deterministic_by_seed(data_env, spec):
    a, b = _load_fresh(spec, seed=3), _load_fresh(spec, seed=3)
    for x, y in ((a.train, b.train), (a.test, b.test)):
        np.testing.assert_array_equal(x.X, y.X)
        np.testing.assert_array_equal(x.y, y.y)
        np.testing.assert_array_equal(x.index, y.index)
    if spec.split("@")[0] in {"german", "hsls", "synthetic_loan", "synthetic_insurance"} or spec == "adult@fairunlearn":
        c = _load_fresh(spec, seed=4)
        assert not np.array_equal(a.test.index, c.test.index) or not np.array_equal(a.test.X, c.test.X)


# ------------------------------------------------------------------------------------------ adult


@needs_mirror
def test_adult_default(data_env):
    ds = load_dataset("adult")
    assert ds.privileged == 1 and ds.group_names == {0: "Female", 1: "Male"}
    assert ds.train.y.mean() == pytest.approx(7_508 / 30_162)
    assert ds.test.y.mean() == pytest.approx(3_700 / 15_060)
    assert not any(name.startswith("sex") for name in ds.feature_names)
    assert any(name.startswith("race=") for name in ds.feature_names)
    assert not any("?" in name for name in ds.feature_names)
    np.testing.assert_allclose(ds.train.X[:, :6].mean(axis=0), 0.0, atol=1e-9)
    cf = load_dataset("adult@cfdebias")
    col = cf.meta["sensitive_feature_columns"][0]
    np.testing.assert_array_equal(cf.train.X[:, col], cf.train.s)


@needs_mirror
def test_adult_flap_labels(data_env):
    paper, corrected = load_dataset("adult@flap"), load_dataset("adult@flap-corrected")
    assert (paper.test.y == 0).all()  # the FLAP notebook bug, kept on purpose
    assert corrected.test.y.sum() == 3_846
    np.testing.assert_array_equal(paper.train.y, corrected.train.y)
    np.testing.assert_array_equal(paper.test.X, corrected.test.X)
    assert len(paper.group_names) == 10 and set(np.unique(paper.train.s)) == set(range(10))
    # PCA fitted on train: centred scores with the legacy sign rule
    np.testing.assert_allclose(paper.train.X.mean(axis=0), 0.0, atol=1e-9)
    for j in range(12):
        column = paper.train.X[:, j]
        assert column[np.argmax(np.abs(column))] > 0


@needs_mirror
def test_flap_text_variants_change_only_the_sensitive_variable(data_env):
    """ob.md 6.1: the text's binary S (COMPAS race Caucasian vs not, Adult sex) on the FLAP pipelines."""
    for text_name, base_name in (("compas@flap-text", "compas@flap"), ("adult@flap-text", "adult@flap-corrected")):
        text, base = load_dataset(text_name), load_dataset(base_name)
        for part in ("train", "test"):
            np.testing.assert_array_equal(getattr(text, part).X, getattr(base, part).X)
            np.testing.assert_array_equal(getattr(text, part).y, getattr(base, part).y)
            assert set(np.unique(getattr(text, part).s)) == {0, 1}
        assert text.privileged == 1 and len(text.group_names) == 2
    compas_text, compas_paper = load_dataset("compas@flap-text"), load_dataset("compas@flap")
    caucasian = [g for g, name in compas_paper.group_names.items() if name.startswith("Caucasian")]
    np.testing.assert_array_equal(compas_text.train.s, np.isin(compas_paper.train.s, caucasian).astype(int))
    adult_text = load_dataset("adult@flap-text")
    assert adult_text.group_names == {0: "Female", 1: "Male"} and adult_text.train.s.sum() == 21_790


@needs_mirror
def test_compas_flap_resplit_draws_the_split_from_the_seed(data_env):
    paper = load_dataset("compas@flap", seed=3)
    again = load_dataset("compas@flap", seed=0, params={"resplit": True})
    other = load_dataset("compas@flap", seed=1, params={"resplit": True})
    np.testing.assert_array_equal(paper.test.index, again.test.index)  # seed 0 is the paper's split
    assert len(other.test) == len(paper.test) and not np.array_equal(np.sort(other.test.index), np.sort(paper.test.index))
    with pytest.raises(FairbenchError, match="unknown parameter"):
        load_dataset("compas@flap", params={"resplit_seed": 1})


@needs_mirror
def test_adult_fairunlearn(data_env):
    ds = load_dataset("adult@fairunlearn")
    assert len(ds.train) + len(ds.test) == 46_447
    assert np.linalg.norm(ds.train.X, axis=1).max() == pytest.approx(1.0)
    race = ds.feature_names.index("race")
    np.testing.assert_array_equal(ds.train.X[:, race] > 0, ds.train.s == 1)
    assert (ds.train.s == 1).mean() == pytest.approx(0.899, abs=0.01)


# --------------------------------------------------------------------------------- german, crime, hsls


@needs_mirror
def test_german(data_env):
    ds = load_dataset("german")
    assert ds.train.y.mean() == pytest.approx(0.7) and ds.test.y.mean() == pytest.approx(0.7)
    s = np.concatenate([ds.train.s, ds.test.s])
    assert (s == 0).sum() == 310  # A92 (no A95 in the file)
    assert ds.group_names[0] == "female" and ds.privileged == 1
    assert sorted(np.concatenate([ds.train.index, ds.test.index]).tolist()) == list(range(1000))


@needs_mirror
def test_crime(data_env):
    ds = load_dataset("crime")
    assert ds.task == "regression" and ds.train.s.shape == (1_794, 1)
    assert "racepctblack" not in ds.feature_names and "ViolentCrimesPerPop" not in ds.feature_names
    assert ds.train.X.min() == 0.0 and ds.train.X.max() == 1.0
    assert ds.test.X.min() >= 0.0 and ds.test.X.max() <= 1.0
    assert ds.train.y.mean() == pytest.approx(0.0, abs=1e-9) and ds.train.y.std() == pytest.approx(1.0)
    assert ((ds.train.s >= 0) & (ds.train.s <= 1)).all()


@needs_mirror
def test_crime_accepts_lf_copy(data_env, tmp_path, monkeypatch):
    from fairbench.datasets.crime import SOURCE

    lf = tmp_path / "crime" / "communities.data"
    lf.parent.mkdir()
    lf.write_bytes((MIRROR / "crime" / "communities.data").read_bytes().replace(b"\r\n", b"\n"))
    spec = SOURCE.files[0]
    assert file_digest(lf, spec) in spec.sha256


@needs_mirror
def test_hsls(data_env):
    ds = load_dataset("hsls")
    assert len(ds.train) + len(ds.test) == 10_817
    assert set(np.unique(ds.train.y)) == {0, 1} and set(np.unique(ds.train.s)) == {0, 1}
    assert ((ds.train.X >= 0) & (ds.train.X <= 1)).all()
    assert any("not public" in note for note in ds.meta["notes"])
    from fairbench.datasets.hsls import SOURCE

    assert SOURCE.files[0].urls == () and "hsls_orig.pkl" in SOURCE.obtain_note
    fu = load_dataset("hsls@fairunlearn")
    assert fu.meta["reconstructed"] is True
    assert np.linalg.norm(fu.train.X, axis=1).max() == pytest.approx(1.0)


# --------------------------------------------------------------------------------- coat, fashion


@needs_mirror
def test_coat(data_env):
    ds = load_dataset("coat")
    assert ds.meta["n_users"] == 290 and ds.meta["n_items"] == 300
    assert ds.train.X.dtype == np.int64 and ds.train.X.shape == (6_960, 2)
    assert np.bincount(ds.train.y, minlength=6)[1:].tolist() == [1901, 1437, 1717, 1275, 630]
    assert np.bincount(ds.test.y, minlength=6)[1:].tolist() == [1879, 899, 1002, 641, 219]
    assert (np.bincount(ds.train.X[:, 0], minlength=290) == 24).all()
    assert (np.bincount(ds.test.X[:, 0], minlength=290) == 16).all()
    assert ds.extra["propensities"].X.shape == (290, 300)
    assert ds.extra["user_features"].X.shape == (290, len(ds.meta["user_feature_names"]))
    assert ds.extra["item_features"].X.shape == (300, len(ds.meta["item_feature_names"]))
    # the AutoDebias triples agree with the matrices
    paths = ensure_files(DATASETS.get("coat").source)
    triples = np.loadtxt(paths["user.txt"], delimiter=",", dtype=np.int64)
    order = np.lexsort((triples[:, 1], triples[:, 0]))
    np.testing.assert_array_equal(triples[order, :2], ds.train.X)
    np.testing.assert_array_equal(triples[order, 2], ds.train.y)


@needs_mirror
def test_fashion_mnist(data_env):
    ds = load_dataset("fashion_mnist")
    assert ds.train.X.dtype == np.uint8 and ds.train.X.shape == (60_000, 28, 28)
    assert ds.test.X.shape == (10_000, 28, 28) and ds.train.y.dtype == np.int64
    assert (np.bincount(ds.train.y) == 6_000).all() and (np.bincount(ds.test.y) == 1_000).all()
    assert ds.class_names[0] == "T-shirt/top" and len(ds.class_names) == 10
    mini = load_dataset("fashion_mnist", params={"limit_per_class": 5})
    assert len(mini.train) == 50 and len(mini.test) == 50
    np.testing.assert_array_equal(mini.train.X[0], ds.train.X[mini.train.index[0]])
    with pytest.raises(FairbenchError):
        load_dataset("fashion_mnist", params={"limit_per_class": 0})


# --------------------------------------------------------------------------------------- synthetic


def test_synthetic_loan():
    from fairbench.datasets.synthetic import loan_counterfactual

    ds = load_dataset("synthetic_loan", seed=1)
    assert ds.meta["reconstructed"] is True and ds.group_names == {0: "white", 1: "black", 2: "asian"}
    shares = np.bincount(np.concatenate([ds.train.s, ds.test.s]), minlength=3) / 5_000
    np.testing.assert_allclose(shares, [0.76, 0.16, 0.08], atol=0.03)
    noise = ds.extra["noise_train"].X
    params = ds.meta["generator_params"]
    np.testing.assert_allclose(loan_counterfactual(noise, ds.train.s, params), ds.train.X)
    other = loan_counterfactual(noise, 1, params)
    assert other.shape == ds.train.X.shape and not np.allclose(other, ds.train.X)
    # shared eps_E: E - mu_E(s) and log I - log m_I(s) move together
    assert np.corrcoef(ds.train.X[:, 0], np.log(ds.train.X[:, 1]))[0, 1] > 0.5
    small = load_dataset("synthetic_loan", params={"n": 100, "beta_s1": -2.0})
    assert len(small.train) + len(small.test) == 100
    for bad in ({"n": -1}, {"n": "many"}, {"nope": 1}, {"race_proportion": [0.5, 0.5]}, {"test_size": 1.5}):
        with pytest.raises(FairbenchError):
            load_dataset("synthetic_loan", params=bad)


def test_synthetic_insurance():
    from fairbench.datasets.synthetic import insurance_counterfactual, insurance_outcome

    ds = load_dataset("synthetic_insurance", seed=2)
    assert ds.task == "regression" and ds.train.s.shape == (4_000, 1) and ds.train.X.shape[1] >= 21
    assert any("not comparable" in note for note in ds.meta["notes"])
    noise = ds.extra["noise_train"].X
    params = ds.meta["generator_params"]
    np.testing.assert_allclose(insurance_counterfactual(noise, ds.train.s[:, 0], params), ds.train.X)
    np.testing.assert_allclose(insurance_outcome(ds.train.X, ds.train.s, noise[:, -1], params), ds.train.y)
    for bad in ({"p": 20}, {"n": 3}, {"sigma_y": -1.0}, {"unknown": 0}):
        with pytest.raises(FairbenchError):
            load_dataset("synthetic_insurance", params=bad)


# ----------------------------------------------------------------------------------- preprocessing


def test_pca_legacy_sign_rule():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))
    T = rng.normal(size=(30, 5))
    scores, test_scores = pca_legacy_sign(X, T)
    U, S, Vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(np.abs(scores), np.abs(U * S), atol=1e-9)
    for j in range(5):  # largest |score| of every component is positive (scikit-learn < 1.5)
        assert scores[np.argmax(np.abs(scores[:, j])), j] > 0
    pca = fit_pca_legacy_sign(X)
    np.testing.assert_allclose(test_scores, (T - X.mean(axis=0)) @ pca.components.T)
    # invariant to the input's sign convention: flipping X's columns does not flip the rule
    assert pca_legacy_sign(X, n_components=2)[0].shape == (200, 2)
