"""UCI Communities and Crime (1,994 communities, 128 fields).

``default`` is the loader of Grari et al. (``fairml-research/Counterfactual_Fairness``,
``read_crimes``) as reconstructed in ob.md §2.3 for the OB paper's Table 1:

1. drop ``state``, ``county``, ``community``, ``communityname`` and ``fold`` (fold kept for the split);
2. ``?`` -> NaN -> 0;
3. z-score every remaining feature column over all rows (pandas std, ddof = 1), as Grari's loader does;
4. test = UCI fold 1 (200 rows), train = folds 2-10 (1,794 rows), in file order (Grari shuffles
   first, which only permutes rows);
5. y = ``ViolentCrimesPerPop`` standardised with the training mean and std (ddof = 0);
6. X min-max scaled to [0, 1] with the training min/max, test clipped to [0, 1].

Step 3 is an affine map per column, so after step 6 it changes nothing but rounding; it is kept
for fidelity. The sensitive variable ``racepctblack`` (continuous, UCI-normalised to [0, 1], left
unscaled) is ``s`` with shape ``(n, 1)`` and is not a feature: p = 121.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import FairbenchError
from ._preprocessing import check_params, minmax
from .base import DataFile, Dataset, DatasetSource, Split
from .registry import register_dataset

_UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases/communities/"

SOURCE = DatasetSource(
    name="crime",
    files=(
        DataFile(
            "communities.data",
            (
                "09e0b5c07eae24c1efab19b2edee05e160e7f5743b6f31e31eec3d73624da2ea",  # CRLF (UCI / mirror)
                "d90d85bd66bad9a00fa0ed6c15ac017b5966d528e55ba2940ad028d071353f95",  # same rows with LF
            ),
            urls=(_UCI + "communities.data",),
            size=1_102_815,  # the CRLF copy
        ),
        DataFile(
            "communities.names",
            ("d4c5560c798d2c723d4455cdea7c87be59a10327dee20ef175a17eaea1445827",),
            urls=(_UCI + "communities.names",),
            size=27_173,
        ),
    ),
    licence="CC BY 4.0 (UCI Machine Learning Repository)",
    citation=(
        "Redmond, M. (2009). Communities and Crime [Dataset]. UCI Machine Learning Repository. "
        "https://doi.org/10.24432/C53W3X"
    ),
    homepage="https://archive.ics.uci.edu/dataset/183/communities+and+crime",
    description="1,994 US communities: 122 socio-economic attributes and ViolentCrimesPerPop (normalised to [0, 1]).",
)

DROP = ["state", "county", "community", "communityname", "fold"]
LABEL = "ViolentCrimesPerPop"
SENSITIVE = "racepctblack"


def _names(path: Path) -> list[str]:
    names = []
    with open(path, encoding="latin-1") as handle:
        for line in handle:
            if line.startswith("@attribute"):
                names.append(line.split()[1])
    if len(names) != 128:
        raise FairbenchError(f"crime: expected 128 @attribute lines in {path.name}, found {len(names)}")
    return names


def load_default(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    opts = check_params("crime", params, {"test_fold": 1})
    test_fold = int(opts["test_fold"])
    if not 1 <= test_fold <= 10:
        raise FairbenchError(f"crime: test_fold must be in 1..10, got {opts['test_fold']}")
    data = pd.read_csv(paths["communities.data"], header=None, names=_names(paths["communities.names"]), na_values="?")
    if len(data) != 1994:
        raise FairbenchError(f"crime: expected 1,994 rows, found {len(data)}")
    folds = data["fold"].to_numpy(int)
    y_raw = data[LABEL].to_numpy(float)
    s = data[[SENSITIVE]].to_numpy(float)
    features = data.drop(columns=DROP + [LABEL, SENSITIVE])
    features = features.apply(pd.to_numeric, errors="raise").fillna(0.0)
    std = features.std(ddof=1).replace(0.0, 1.0)
    z = ((features - features.mean()) / std).to_numpy(float)
    test = folds == test_fold
    train = ~test
    X_train, X_test = minmax(z[train], z[test], clip=True)
    y_mean, y_std = y_raw[train].mean(), y_raw[train].std()
    y = (y_raw - y_mean) / y_std
    rows = np.arange(len(data), dtype=np.int64)
    return Dataset(
        name="crime",
        train=Split(X_train, y[train], s[train], rows[train]),
        test=Split(X_test, y[test], s[test], rows[test]),
        task="regression",
        feature_names=list(features.columns),
        sensitive_names=[SENSITIVE],
        class_names=[],
        meta={
            "split": f"UCI fold {test_fold} = test, other folds = train (file order)",
            "reconstructed": True,
            "y_mean": float(y_mean),
            "y_std": float(y_std),
            "label": LABEL,
            "index": "0-based row number in communities.data",
            "notes": [
                "Grari et al. read_crimes pipeline as reconstructed in ob.md §2.3 (OB Table 1)",
                "dropped: state, county, community, communityname, fold; '?' -> NaN -> 0",
                "features z-scored over all rows (ddof=1) first, then min-max scaled to [0, 1] on train, test clipped",
                "y = ViolentCrimesPerPop standardised with the training mean/std (ddof=0); meta y_mean / y_std undo it",
                "s = racepctblack (continuous, unscaled UCI value in [0, 1]), shape (n, 1); not among the 121 features",
            ],
        },
    )


register_dataset(
    SOURCE,
    variants={"default": load_default},
    variant_notes={"default": "Grari et al. preprocessing: fold 1 test, 121 min-max features, standardised y, s = racepctblack"},
)
