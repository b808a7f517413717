"""``cobum_recon``: a documented reconstruction of cobum's Co-BUM score (cobum.md §1.4, §6.1).

The paper's formula (its Figure 2) and coefficients (its Table 1) are lost, and the printed Co-BUM values
cannot be rebuilt from Table 2, so this is *not* the paper's score and is never compared with it. It follows
the documented template of GUM / CGUM (Koudounas et al., arXiv 2505.15700): every term is normalised against
the gold model, the oracle retrained on D_r, and clipped to [0, 1]. For one run, o = the original model,
g = the gold (reference) model, m = the evaluated model:

=======  =================================================  ==========================
term     normalisation                                      default coefficient
=======  =================================================  ==========================
``FA``   (FA_o − FA_m) / (FA_o − FA_g): progress to gold    1
``RA``   RA_m / RA_g                                        1
``MIA``  1 − |MIA_m − MIA_g| / |MIA_o − MIA_g|              1
``DP``   DP%drop_m / 100; ``gold``: DP%drop_m / DP%drop_g   1
``EO``   EO%drop_m / 100; ``gold``: as DP                   1
``TA``   TA_m / TA_g                                        0
``T``    1 − log(1 + t_m) / log(1 + t_g) (GUM's)            0
=======  =================================================  ==========================

``gold`` divides by the gold model's drop only where that drop is positive (otherwise the ``raw`` form).
Combiners (weights w_k, terms with w_k = 0 left out): ``arithmetic`` Σ w_k·s_k / Σ w_k (default);
``geometric`` exp(Σ w_k·log s_k / Σ w_k); ``harmonic`` Σ w_k / Σ (w_k / s_k) (GUM-like); the last two floor
every term at 1e-6. Higher is better. A term whose normalisation divides by zero (e.g. FA_o = FA_g) is
undefined, and so is the score: nan with a RuntimeWarning.

Configuration (the stand-in for the paper's Table 1): a run's ``metric_options: {cobum_recon: {coefficients:
{FA: 1, ...}, combiner: arithmetic, normalisation: {DP: gold}}}``; given coefficients replace the defaults
term by term.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from ..core.errors import FairbenchError
from .classification import _undefined, accuracy
from .fairness import gap_drop_pct
from .mia import forget_test_loss_auc
from .registry import Needs, register_metric
from .unlearning import time_s

DEFAULT_COEFFICIENTS = {"FA": 1.0, "RA": 1.0, "MIA": 1.0, "DP": 1.0, "EO": 1.0, "TA": 0.0, "T": 0.0}
COMBINERS = ("arithmetic", "geometric", "harmonic")
FAIRNESS_NORMALISATIONS = ("raw", "gold")
FLOOR = 1e-6  # the geometric and harmonic combiners' smallest term


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator != 0 else float("nan")


def _fairness_term(drop_m: float, drop_g: float, mode: str) -> float:
    if mode == "gold" and drop_g > 0:
        return drop_m / drop_g
    return drop_m / 100.0


def cobum_terms(method: Mapping[str, float], gold: Mapping[str, float], original: Mapping[str, float], *,
                terms: tuple[str, ...] = tuple(DEFAULT_COEFFICIENTS),
                normalisation: Mapping[str, str] | None = None) -> dict[str, float]:
    """The normalised terms s_k (module docstring) of ``terms``, clipped to [0, 1] (nan where undefined).

    ``method`` / ``gold`` / ``original``: the models' FA, RA, TA (one unit throughout: fractions or %), MIA
    (AUC), DP and EO (% drop of the gap against the original, as ``dp_gap_drop_pct``) and T (seconds); only
    the keys the asked ``terms`` use are read. ``normalisation``: ``{"DP": "raw" | "gold", "EO": ...}``."""
    modes = {"DP": "raw", "EO": "raw", **(normalisation or {})}
    unknown = sorted(set(modes) - {"DP", "EO"}) or [k for k, v in modes.items() if v not in FAIRNESS_NORMALISATIONS]
    if unknown:
        raise FairbenchError(f"cobum_recon normalisation: only DP and EO take one of {FAIRNESS_NORMALISATIONS}, got {modes}")
    m, g, o = method, gold, original
    formulas = {
        "FA": lambda: _ratio(o["FA"] - m["FA"], o["FA"] - g["FA"]),
        "RA": lambda: _ratio(m["RA"], g["RA"]),
        "MIA": lambda: 1.0 - _ratio(abs(m["MIA"] - g["MIA"]), abs(o["MIA"] - g["MIA"])),
        "DP": lambda: _fairness_term(m["DP"], g["DP"], modes["DP"]),
        "EO": lambda: _fairness_term(m["EO"], g["EO"], modes["EO"]),
        "TA": lambda: _ratio(m["TA"], g["TA"]),
        "T": lambda: 1.0 - _ratio(math.log1p(m["T"]), math.log1p(g["T"])),
    }
    return {k: float(np.clip(formulas[k](), 0.0, 1.0)) for k in terms}


def cobum_recon_score(method: Mapping[str, float], gold: Mapping[str, float], original: Mapping[str, float], *,
                      coefficients: Mapping[str, float] | None = None, combiner: str = "arithmetic",
                      normalisation: Mapping[str, str] | None = None) -> float:
    """``cobum_recon`` of one (method, gold, original) triple of summaries (see :func:`cobum_terms`)."""
    unknown = sorted(set(coefficients or {}) - set(DEFAULT_COEFFICIENTS))
    if unknown:
        raise FairbenchError(f"cobum_recon coefficients: unknown term(s) {unknown}; terms: {list(DEFAULT_COEFFICIENTS)}")
    if combiner not in COMBINERS:
        raise FairbenchError(f"cobum_recon combiner must be one of {COMBINERS}, got {combiner!r}")
    try:
        weights = {k: float(w) for k, w in {**DEFAULT_COEFFICIENTS, **(coefficients or {})}.items() if float(w) != 0}
    except (TypeError, ValueError):
        raise FairbenchError(f"cobum_recon coefficients must be numbers, got {coefficients!r}") from None
    if not weights or any(w < 0 for w in weights.values()):
        raise FairbenchError(f"cobum_recon coefficients must be >= 0 with at least one positive, got {weights}")
    s = cobum_terms(method, gold, original, terms=tuple(weights), normalisation=normalisation)
    undefined = [k for k, v in s.items() if math.isnan(v)]
    if undefined:
        return _undefined(f"cobum_recon: term(s) {undefined} undefined (a normalisation divides by zero)")
    total = sum(weights.values())
    if combiner == "arithmetic":
        return sum(weights[k] * s[k] for k in weights) / total
    floored = {k: max(s[k], FLOOR) for k in weights}
    if combiner == "geometric":
        return math.exp(sum(weights[k] * math.log(floored[k]) for k in weights) / total)
    return total / sum(weights[k] / floored[k] for k in weights)


def _summary(y_forget, y_retain, y_test, s_test, fairness, pred_forget, pred_retain, pred_test, proba_forget,
             proba_test, pred_test_original, seconds: float, seed: int) -> dict[str, float]:
    """One model's FA, RA, TA, MIA, DP and EO (% drops against the original's predictions
    ``pred_test_original``; None for the original itself: 0 by construction) and T, as cobum's columns."""
    drops = {"DP": 0.0, "EO": 0.0} if pred_test_original is None else {
        key: gap_drop_pct(y_test, pred_test, pred_test_original, s_test, fairness, kind=key.lower())
        for key in ("DP", "EO")}
    return {
        "FA": accuracy(y_forget, pred_forget), "RA": accuracy(y_retain, pred_retain), "TA": accuracy(y_test, pred_test),
        "MIA": forget_test_loss_auc(proba_forget, y_forget, proba_test, y_test, seed=seed)["auc"],
        **drops, "T": seconds,
    }


@register_metric("cobum_recon", kind="composite", higher_is_better=True, needs=Needs((
    "y:forget", "y:retain", "y", "s", "fairness",
    "pred:forget", "pred:retain", "pred", "proba:forget", "proba",
    "pred_original:forget", "pred_original:retain", "pred_original", "proba_original:forget", "proba_original",
    "pred_reference:forget", "pred_reference:retain", "pred_reference", "proba_reference:forget", "proba_reference",
    "unlearn_seconds", "train_seconds", "is_original", "reference_seconds"), seeded=True))
def cobum_recon(y_forget, y_retain, y_test, s_test, fairness,
                pred_forget, pred_retain, pred_test, proba_forget, proba_test,
                pred_forget_o, pred_retain_o, pred_test_o, proba_forget_o, proba_test_o,
                pred_forget_g, pred_retain_g, pred_test_g, proba_forget_g, proba_test_g,
                unlearn_seconds, train_seconds, is_original, reference_seconds, *, seed: int = 0,
                coefficients: Mapping[str, float] | None = None, combiner: str = "arithmetic",
                normalisation: Mapping[str, str] | None = None) -> float:
    """Reconstructed Co-BUM (cobum.md §1.4; not the paper's formula, which is lost): the weighted combination of
    the evaluated model's FA, RA, MIA, DP and EO terms (TA and time with weight 0 by default), each
    normalised against the run's reference (the retrained gold model) and the original model, clipped to
    [0, 1]; higher is better. Every column as cobum's metrics compute it (FA, RA, TA accuracies; MIA the
    ``auc_loss`` preset on the run's evaluation seed; DP/EO % drops of :func:`~.fairness.bias_gap`).
    Options: ``coefficients``, ``combiner``, ``normalisation`` (:func:`cobum_recon_score`).
    Edge case: an undefined term (e.g. FA_o = FA_g) -> nan with a RuntimeWarning.
    """
    shared = (y_forget, y_retain, y_test, s_test, fairness)
    summaries = [
        _summary(*shared, pred_forget, pred_retain, pred_test, proba_forget, proba_test, pred_test_o,
                 time_s(unlearn_seconds, train_seconds, is_original), seed),
        _summary(*shared, pred_forget_g, pred_retain_g, pred_test_g, proba_forget_g, proba_test_g, pred_test_o,
                 reference_seconds, seed),
        _summary(*shared, pred_forget_o, pred_retain_o, pred_test_o, proba_forget_o, proba_test_o, None,
                 train_seconds, seed),
    ]
    return cobum_recon_score(*summaries, coefficients=coefficients, combiner=combiner, normalisation=normalisation)
