"""HSLS:09 (High School Longitudinal Study of 2009), Jeong, Wang & Calmon (AAAI 2022) version.

The benchmark's file ``hsls_orig.csv`` is a CSV conversion of the pandas pickle
``datasets/HSLS/code/pkl_data/hsls_orig.pkl`` of GitHub haewon55/FairMIPForest (commit
``2bae78c0f00a348fc7578de6577012228f00d90e``; pickle sha256
``a6a6408b0cefe5a038b0e2c48fa7a8c292b221cc7bc48f2818e3378338875a13``), written with
``pandas.read_pickle(...).to_csv(path, index=False)`` (missing values as empty fields). It is not an
upstream file, so there is no URL to fetch it from: the mirror (``FAIRBENCH_MIRROR``) or a copy the
user places in the cache is the only source.

The k-NN-imputed HSLS table used by Alghamdi et al. and by the fair-unlearning paper
(``hsls_knn_impute.pkl`` / ``hsls_df_knn_impute_past_v2.pkl``) is not public; the ``fairunlearn``
variant substitutes this file and documents the differences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import FairbenchError
from ._preprocessing import check_params, split_indices
from .base import DataFile, Dataset, DatasetSource, Split
from .registry import register_dataset

PICKLE_URL = (
    "https://raw.githubusercontent.com/haewon55/FairMIPForest/2bae78c0f00a348fc7578de6577012228f00d90e/"
    "datasets/HSLS/code/pkl_data/hsls_orig.pkl"
)

SOURCE = DatasetSource(
    name="hsls",
    files=(
        DataFile(
            "hsls_orig.csv",
            ("36e35239945c48607de0a378fbeaebd2288b29e6add604c44e3fa71878b554dd",),
            urls=(),
            size=2_692_140,
        ),
    ),
    licence="US-government public-use data (NCES HSLS:09 public-use file)",
    citation=(
        "Ingels, S. J. et al. (2011). High School Longitudinal Study of 2009 (HSLS:09). NCES 2011-328; "
        "preprocessed version: Jeong, H., Wang, H. & Calmon, F. P. (2022). Fairness without Imputation: A Decision "
        "Tree Approach for Fair Prediction with Missing Values. AAAI."
    ),
    homepage="https://nces.ed.gov/surveys/hsls09/",
    description="21,444 students x 9 features scaled to [0, 1] with missing values, binary race and 9th-grade math label.",
    obtain_note=(
        f"hsls_orig.csv is a conversion, not an upstream file: download {PICKLE_URL} (sha256 "
        "a6a6408b0cefe5a038b0e2c48fa7a8c292b221cc7bc48f2818e3378338875a13), run "
        "`python -c \"import pandas as pd; pd.read_pickle('hsls_orig.pkl').to_csv('hsls_orig.csv', index=False)\"` "
        "and put hsls_orig.csv in <FAIRBENCH_DATA>/hsls/ (or <FAIRBENCH_MIRROR>/hsls/)."
    ),
)

FEATURES = [
    "X1MTHID", "X1MTHUTI", "X1MTHEFF", "X1PAR2EDU", "X1FAMINCOME", "X1P1RELATION", "X1PAR1EMP", "X1SCHOOLBEL",
    "X1STU30OCC2",
]
KNN_NOTE = (
    "the k-NN-imputed HSLS file of Alghamdi et al. / the fair-unlearning paper (hsls_df_knn_impute_past_v2.pkl) "
    "is not public; this is the Jeong et al. hsls_orig version with incomplete rows dropped instead"
)


def _read(paths: dict[str, Path]) -> pd.DataFrame:
    frame = pd.read_csv(paths["hsls_orig.csv"])
    expected = FEATURES + ["racebin", "gradebin"]
    if list(frame.columns) != expected or len(frame) != 21_444:
        raise FairbenchError(f"hsls: unexpected layout {list(frame.columns)} x {len(frame)} rows")
    return frame


def _complete(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    keep = frame.notna().all(axis=1).to_numpy()
    rows = np.flatnonzero(keep).astype(np.int64)
    sub = frame.iloc[rows]
    X = sub[FEATURES].to_numpy(np.float64)
    y = sub["gradebin"].to_numpy().astype(np.int64)
    s = sub["racebin"].to_numpy().astype(np.int64)
    return X, y, s, rows


GROUPS = {0: "racebin=0", 1: "racebin=1"}


def load_default(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    opts = check_params("hsls", params, {"test_size": 0.3})
    X, y, s, rows = _complete(_read(paths))
    train, test = split_indices(len(y), float(opts["test_size"]), seed)
    return Dataset(
        name="hsls",
        train=Split(X[train], y[train], s[train], rows[train]),
        test=Split(X[test], y[test], s[test], rows[test]),
        task="binary",
        feature_names=list(FEATURES),
        sensitive_names=["racebin"],
        group_names=dict(GROUPS),
        privileged=1,
        class_names=["gradebin=0", "gradebin=1"],
        meta={
            "split": f"seeded random split, test_size={opts['test_size']} (sklearn train_test_split, random_state=seed)",
            "reconstructed": False,
            "index": "0-based data-row number in hsls_orig.csv",
            "notes": [
                "Jeong et al. (AAAI 2022) HSLS version (FairMIPForest hsls_orig.pkl converted to CSV); features already "
                "scaled to [0, 1] upstream",
                "rows with any missing value dropped: 10,817 of 21,444 remain",
                "y = gradebin, s = racebin (privileged = 1, as in the aif360 convention of the papers)",
                "no official split: seeded 70/30 random split as in Jeong et al.'s notebooks (their random state unknown)",
                KNN_NOTE,
            ],
        },
    )


def load_fairunlearn(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    opts = check_params("hsls@fairunlearn", params, {"test_size": 0.2})
    X, y, s, rows = _complete(_read(paths))
    X = np.column_stack([X, s.astype(np.float64)])
    train, test = split_indices(len(y), float(opts["test_size"]), seed)
    lo, hi = X[train].min(axis=0), X[train].max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    X_train, X_test = (X[train] - lo) / span, (X[test] - lo) / span
    norm = np.linalg.norm(X_train, axis=1).max()
    X_train, X_test = X_train / norm, X_test / norm
    return Dataset(
        name="hsls@fairunlearn",
        train=Split(X_train, y[train], s[train], rows[train]),
        test=Split(X_test, y[test], s[test], rows[test]),
        task="binary",
        feature_names=list(FEATURES) + ["racebin"],
        sensitive_names=["racebin"],
        group_names=dict(GROUPS),
        privileged=1,
        class_names=["gradebin=0", "gradebin=1"],
        meta={
            "split": f"seeded random split, test_size={opts['test_size']} (sklearn train_test_split, random_state=seed)",
            "reconstructed": True,
            "max_row_norm": float(norm),
            "substitute_for": "hsls_df_knn_impute_past_v2.pkl (fair-unlearning prepare_hsls.py)",
            "notes": [
                KNN_NOTE + "; numbers depending on the k-NN version cannot be reproduced exactly",
                "differences from prepare_hsls.py: other (fewer) feature columns, no sex attribute in this file, incomplete "
                "rows dropped instead of k-NN-imputed, different row count (10,817)",
                "kept from prepare_hsls.py: label gradebin, s = racebin (1 = White or Asian per fairunlearn.md), race also "
                "an input feature (last column), min-max scaling then division by the maximum training row L2 norm",
                "scaler and max-norm fitted on the training split ('corrected' resolution, fairunlearn.md §6.10); the "
                "reference fits min-max on all rows and the norm on a second random split; no intercept column appended",
            ],
        },
    )


register_dataset(
    SOURCE,
    variants={"default": load_default, "fairunlearn": load_fairunlearn},
    variant_notes={
        "default": "Jeong et al. hsls_orig, complete rows (10,817), y = gradebin, s = racebin, seeded 70/30",
        "fairunlearn": "substitute for the non-public k-NN-imputed file: race as feature, min-max + max-norm, seeded 80/20",
    },
)
