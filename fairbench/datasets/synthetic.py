"""Synthetic generators (no files): the FLAP loan data and a linear-Gaussian insurance-price data set.

synthetic_loan (ob.md §2.5; FLAP ``datagen.dat_gen_loan_multivariate_wrapper``)
    S ~ Multinomial(0.76, 0.16, 0.08) over {0 white, 1 black, 2 asian};
    E = max(0, mu_E(S) + eps_E), mu_E = (le0, le0 + le1, le0 + le2), eps_E ~ N(0, (le0 / 2.5)^2);
    log I = log m_I(S) + eps_E + eps_I, m_I = (li0, li0 + li1, li0 + li2), eps_I ~ N(0, 0.1^2)
    (the same eps_E enters E and I);
    Y = 1{U_Y < expit(beta0 + beta_s(S) + beta_e E + beta_i I)}, beta_s = (0, beta_s1, beta_s2), U_Y ~ U(0, 1).
    Defaults: FLAP's beta0 = -1, beta_e = 1, beta_i = 2 and its stand-alone group means / medians
    (1.07, 0.99, 1.26) / (0.58, 0.40, 0.81); beta_s = (0, -1, -0.5) is a benchmark choice (the values
    behind OB Table 4 are unknown). N = 5000, seeded 80/20 split.
    Noises are returned in ``extra["noise_train"]`` / ``extra["noise_test"]`` (X columns
    ``eps_E, eps_I, U_Y``) so that :func:`loan_counterfactual` can regenerate E and I for another s
    with the same noises (abduction is exact: the true counterfactual).

synthetic_insurance (ob.md §1.2 Appendix A, §2.4; a benchmark-defined generator)
    A = c1 U_A + c2 (the continuous sensitive variable), X_j = c3_scale c3_j A + c4 U_Xj + c5_j (j < p),
    Y = w . X + beta_a A + sigma_y U_Y, with U_A, U_X, U_Y iid N(0, 1). Constants:
    c3_j = (-1)^j (0.5 + 1.5 j / (p - 1)), c5_j = 0.1 j, w_j = (1 if j even else -0.5) / sqrt(p);
    defaults c1 = 1, c2 = 0, c3_scale = 1, c4 = 0.5, beta_a = 0.5, sigma_y = 0.05, p = 24 (>= 21 because OB uses
    k = 20), N = 5000, seeded 80/20 split. Not the paper's generator (unknown): numbers are not
    comparable to OB Table 1. ``extra["noise_*"]`` holds ``U_A, U_X1..U_Xp, U_Y``;
    :func:`insurance_counterfactual` recomputes X for another A.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from ..core.errors import FairbenchError
from ._preprocessing import check_params, split_indices
from .base import Dataset, DatasetSource, Split
from .registry import register_dataset

# ---------------------------------------------------------------------------------------------- loan

LOAN_DEFAULTS: dict[str, Any] = {
    "n": 5000,
    "test_size": 0.2,
    "race_proportion": [0.76, 0.16, 0.08],
    "intercept": -1.0,
    "beta_e": 1.0,
    "beta_i": 2.0,
    "beta_s1": -1.0,
    "beta_s2": -0.5,
    "lmbd_e0": 1.07,
    "lmbd_e1": -0.08,
    "lmbd_e2": 0.19,
    "lmbd_i0": 0.58,
    "lmbd_i1": -0.18,
    "lmbd_i2": 0.23,
}

LOAN_SOURCE = DatasetSource(
    name="synthetic_loan",
    files=(),
    licence="generated (no data licence)",
    citation=(
        "Chen, H. et al. Fairness-aware learning through transforming data (FLAP), JASA 2024, arXiv:2202.12440, "
        "Example 2 (loan); generator in ideechy/Fairness-Learning datagen.py"
    ),
    homepage="https://github.com/ideechy/Fairness-Learning",
    description="Race (3 groups) -> education, income (shared noise) -> loan decision; FLAP Example 2.",
)


def _number(name: str, key: str, value, *, integer: bool = False, low=None, high=None, open_low=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        raise FairbenchError(f"{name}: parameter {key} must be {kind}, got {value!r}")
    if not np.isfinite(value):
        raise FairbenchError(f"{name}: parameter {key} must be finite, got {value!r}")
    if low is not None and (value <= low if open_low else value < low):
        raise FairbenchError(f"{name}: parameter {key} must be {'>' if open_low else '>='} {low}, got {value!r}")
    if high is not None and value >= high:
        raise FairbenchError(f"{name}: parameter {key} must be < {high}, got {value!r}")
    return value


def loan_params(params: dict | None = None) -> dict[str, Any]:
    """Validated loan generator parameters (defaults merged in); raises FairbenchError on bad values."""
    name = "synthetic_loan"
    opts = check_params(name, dict(params or {}), LOAN_DEFAULTS)
    _number(name, "n", opts["n"], integer=True, low=10)
    _number(name, "test_size", opts["test_size"], low=0.0, high=1.0, open_low=True)
    for key in LOAN_DEFAULTS:
        if key not in ("n", "test_size", "race_proportion"):
            _number(name, key, opts[key])
    for key in ("lmbd_e0", "lmbd_i0"):
        _number(name, key, opts[key], low=0.0, open_low=True)
    if opts["lmbd_i0"] + opts["lmbd_i1"] <= 0 or opts["lmbd_i0"] + opts["lmbd_i2"] <= 0:
        raise FairbenchError(f"{name}: the income medians lmbd_i0 + lmbd_i1/2 must be positive")
    prop = opts["race_proportion"]
    if (
        not isinstance(prop, (list, tuple))
        or len(prop) != 3
        or any(isinstance(p, bool) or not isinstance(p, (int, float)) or p < 0 for p in prop)
        or abs(sum(prop) - 1.0) > 1e-9
    ):
        raise FairbenchError(f"{name}: race_proportion must be three non-negative numbers summing to 1, got {prop!r}")
    opts["race_proportion"] = [float(p) for p in prop]
    return opts


def _loan_tables(p: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean_e = np.array([p["lmbd_e0"], p["lmbd_e0"] + p["lmbd_e1"], p["lmbd_e0"] + p["lmbd_e2"]], dtype=float)
    med_i = np.array([p["lmbd_i0"], p["lmbd_i0"] + p["lmbd_i1"], p["lmbd_i0"] + p["lmbd_i2"]], dtype=float)
    beta_s = np.array([0.0, p["beta_s1"], p["beta_s2"]], dtype=float)
    return mean_e, med_i, beta_s


def loan_counterfactual(noise: np.ndarray, s_new, params: dict | None = None) -> np.ndarray:
    """Features (E, I), shape (n, 2), regenerated for sensitive value(s) ``s_new`` with the same noises.

    ``noise`` is ``extra["noise_train" | "noise_test"].X`` (columns eps_E, eps_I[, U_Y]); ``s_new`` an int
    in {0, 1, 2} or an (n,) array; ``params`` the dataset's ``meta["generator_params"]`` (defaults if None).
    """
    p = loan_params(params)
    noise = np.asarray(noise, dtype=float)
    s_new = np.broadcast_to(np.asarray(s_new, dtype=np.int64).reshape(-1) if np.ndim(s_new) else np.int64(s_new), (len(noise),))
    if np.any((s_new < 0) | (s_new > 2)):
        raise FairbenchError("loan_counterfactual: s must be in {0, 1, 2}")
    mean_e, med_i, _ = _loan_tables(p)
    eps_e, eps_i = noise[:, 0], noise[:, 1]
    e = np.clip(mean_e[s_new] + eps_e, 0.0, None)
    i = np.exp(np.log(med_i[s_new]) + eps_e + eps_i)
    return np.column_stack([e, i])


def loan_probability(X: np.ndarray, s, params: dict | None = None) -> np.ndarray:
    """P(Y = 1 | S = s, E, I) of the generator, for true counterfactual outcome probabilities."""
    p = loan_params(params)
    _, _, beta_s = _loan_tables(p)
    X = np.asarray(X, dtype=float)
    s = np.broadcast_to(np.asarray(s, dtype=np.int64), (len(X),))
    return expit(p["intercept"] + beta_s[s] + p["beta_e"] * X[:, 0] + p["beta_i"] * X[:, 1])


def load_loan(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    p = loan_params(params)
    n = p["n"]
    rng = np.random.default_rng(seed)
    s = rng.choice(3, size=n, p=np.array(p["race_proportion"]) / sum(p["race_proportion"])).astype(np.int64)
    e_sd = p["lmbd_e0"] / 2.5
    eps_e = rng.normal(0.0, e_sd, size=n)
    eps_i = rng.normal(0.0, 0.1, size=n)
    u_y = rng.uniform(0.0, 1.0, size=n)
    noise = np.column_stack([eps_e, eps_i, u_y])
    X = loan_counterfactual(noise, s, p)
    prob = loan_probability(X, s, p)
    y = (u_y < prob).astype(np.int64)
    train, test = split_indices(n, float(p["test_size"]), seed)
    rows = np.arange(n, dtype=np.int64)

    def part(idx):
        return Split(X[idx], y[idx], s[idx], rows[idx]), Split(noise[idx], y[idx], s[idx], rows[idx])

    (tr, ntr), (te, nte) = part(train), part(test)
    return Dataset(
        name="synthetic_loan",
        train=tr,
        test=te,
        task="binary",
        feature_names=["education", "income"],
        sensitive_names=["race"],
        group_names={0: "white", 1: "black", 2: "asian"},
        privileged=0,
        class_names=["deny", "approve"],
        extra={"noise_train": ntr, "noise_test": nte},
        meta={
            "reconstructed": True,
            "generator_params": p,
            "split": f"seeded random split, test_size={p['test_size']}",
            "noise_columns": ["eps_E", "eps_I", "U_Y"],
            "notes": [
                "FLAP Example 2 loan generator (ob.md §2.5); structure confirmed in FLAP datagen.py, parameters of OB "
                "Table 4 unknown: defaults are FLAP's (beta0=-1, beta_e=1, beta_i=2, group means/medians of the "
                "stand-alone generator) plus the benchmark choice beta_s=(0, -1, -0.5)",
                "E in units of 10 years, I in units of $100k; eps_E enters both E and log I",
                "extra['noise_train'/'noise_test'].X = (eps_E, eps_I, U_Y): true counterfactual features via "
                "fairbench.datasets.synthetic.loan_counterfactual(noise, s_new, meta['generator_params'])",
                "randomness: numpy default_rng(seed) draws S, eps_E, eps_I, U_Y in that order; split with random_state=seed",
            ],
        },
    )


# ----------------------------------------------------------------------------------------- insurance

INSURANCE_DEFAULTS: dict[str, Any] = {
    "n": 5000,
    "p": 24,
    "test_size": 0.2,
    "c1": 1.0,
    "c2": 0.0,
    "c3_scale": 1.0,
    "c4": 0.5,
    "beta_a": 0.5,
    "sigma_y": 0.05,
}

INSURANCE_SOURCE = DatasetSource(
    name="synthetic_insurance",
    files=(),
    licence="generated (no data licence)",
    citation=(
        "Benchmark-defined linear-Gaussian generator following Appendix A of the OB paper (counterfactual fairness "
        "through transforming data orthogonal to bias) and Grari et al. (arXiv:2008.13122)"
    ),
    homepage="",
    description="Continuous sensitive A -> p >= 21 Gaussian features X -> continuous price Y (A -> Y too).",
)


def insurance_params(params: dict | None = None) -> dict[str, Any]:
    name = "synthetic_insurance"
    opts = check_params(name, dict(params or {}), INSURANCE_DEFAULTS)
    _number(name, "n", opts["n"], integer=True, low=10)
    _number(name, "p", opts["p"], integer=True, low=21)
    _number(name, "test_size", opts["test_size"], low=0.0, high=1.0, open_low=True)
    for key in ("c1", "c2", "c3_scale", "c4", "beta_a", "sigma_y"):
        _number(name, key, opts[key])
    _number(name, "c4", opts["c4"], low=0.0)
    _number(name, "sigma_y", opts["sigma_y"], low=0.0)
    return opts


def insurance_constants(p: int) -> dict[str, np.ndarray]:
    """The fixed vectors c3 (A -> X loadings), c5 (X offsets) and w (X -> Y weights) for ``p`` features."""
    j = np.arange(p)
    c3 = np.where(j % 2 == 0, 1.0, -1.0) * (0.5 + 1.5 * j / (p - 1))
    c5 = 0.1 * j
    w = np.where(j % 2 == 0, 1.0, -0.5) / np.sqrt(p)
    return {"c3": c3, "c5": c5, "w": w}


def insurance_counterfactual(noise: np.ndarray, a_new, params: dict | None = None) -> np.ndarray:
    """X regenerated for sensitive value(s) ``a_new`` with the same U_X (``noise`` = ``extra["noise_*"].X``)."""
    opts = insurance_params(params)
    const = insurance_constants(opts["p"])
    noise = np.asarray(noise, dtype=float)
    u_x = noise[:, 1 : 1 + opts["p"]]
    a = np.broadcast_to(np.asarray(a_new, dtype=float).reshape(-1, 1) if np.ndim(a_new) else float(a_new), (len(noise), 1))
    return a * (opts["c3_scale"] * const["c3"]) + opts["c4"] * u_x + const["c5"]


def insurance_outcome(X: np.ndarray, a, u_y, params: dict | None = None) -> np.ndarray:
    """Y = w . X + beta_a a + sigma_y U_Y."""
    opts = insurance_params(params)
    const = insurance_constants(opts["p"])
    a = np.asarray(a, dtype=float).reshape(-1)
    return np.asarray(X, dtype=float) @ const["w"] + opts["beta_a"] * a + opts["sigma_y"] * np.asarray(u_y, dtype=float)


def load_insurance(paths: dict[str, Path], seed: int = 0, **params) -> Dataset:
    opts = insurance_params(params)
    n, p = opts["n"], opts["p"]
    rng = np.random.default_rng(seed)
    u_a = rng.normal(size=n)
    u_x = rng.normal(size=(n, p))
    u_y = rng.normal(size=n)
    a = opts["c1"] * u_a + opts["c2"]
    noise = np.column_stack([u_a, u_x, u_y])
    X = insurance_counterfactual(noise, a, opts)
    y = insurance_outcome(X, a, u_y, opts)
    s = a.reshape(-1, 1)
    train, test = split_indices(n, float(opts["test_size"]), seed)
    rows = np.arange(n, dtype=np.int64)
    const = insurance_constants(p)
    return Dataset(
        name="synthetic_insurance",
        train=Split(X[train], y[train], s[train], rows[train]),
        test=Split(X[test], y[test], s[test], rows[test]),
        task="regression",
        feature_names=[f"x{j + 1}" for j in range(p)],
        sensitive_names=["A"],
        extra={
            "noise_train": Split(noise[train], y[train], s[train], rows[train]),
            "noise_test": Split(noise[test], y[test], s[test], rows[test]),
        },
        meta={
            "reconstructed": True,
            "generator_params": opts,
            "constants": {k: v.tolist() for k, v in const.items()},
            "split": f"seeded random split, test_size={opts['test_size']}",
            "noise_columns": ["U_A"] + [f"U_X{j + 1}" for j in range(p)] + ["U_Y"],
            "notes": [
                "benchmark-defined generator, not comparable to the paper's numbers (OB's synthetic insurance "
                "equations, weights, noise levels, n and p are unknown; ob.md §2.4)",
                "linear-Gaussian per OB Appendix A: A = c1 U_A + c2, X = c3_scale c3 A + c4 U_X + c5, Y = w.X + beta_a A + "
                "sigma_y U_Y, all U iid N(0, 1); (A, X) jointly normal",
                "s = A with shape (n, 1); counterfactual X via "
                "fairbench.datasets.synthetic.insurance_counterfactual(noise, a_new, meta['generator_params'])",
                "randomness: numpy default_rng(seed) draws U_A, U_X, U_Y in that order; split with random_state=seed",
            ],
        },
    )


register_dataset(
    LOAN_SOURCE,
    variants={"default": load_loan},
    variant_notes={"default": "FLAP Example 2 loan generator, N=5000, 80/20, beta_s=(0,-1,-0.5) (reconstructed)"},
)
register_dataset(
    INSURANCE_SOURCE,
    variants={"default": load_insurance},
    variant_notes={"default": "benchmark-defined linear-Gaussian insurance generator, p=24, N=5000, 80/20"},
)
