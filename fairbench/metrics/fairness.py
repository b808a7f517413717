"""Group-fairness metrics for binary tasks (AIF360 / fairlearn conventions), plus multiclass gaps.

Common arguments:

- ``y_true``: binary 0/1 labels; ``y_pred``: *hard* binary 0/1 predictions.
- ``sensitive``: 1-D discrete group codes (one per row).
- ``privileged``: the code of the privileged group (default 1, the convention of fairunlearn and of
  AIF360 with ``privileged_groups=[{s: 1}]``). Metrics with a direction compare the
  **unprivileged** rows, i.e. *all rows whose code differs from ``privileged``* (pooled, so for
  more than two groups the non-privileged groups are merged), against the privileged rows.

Notation: SR_g = P(y_hat=1 | g) (selection rate), TPR_g = P(y_hat=1 | y=1, g),
FPR_g = P(y_hat=1 | y=0, g); "u" = unprivileged (pooled), "p" = privileged.

A rate over an empty set (no rows in a group, no positives for a TPR, no negatives for an FPR)
is undefined: the metric returns ``nan`` and emits a ``RuntimeWarning`` (fairlearn may return 0
or nan there; we never return a silent 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .classification import _check_1d, _check_binary, _undefined
from .registry import Needs, register_metric


def _prep(y_true, y_pred, sensitive) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_true, y_pred, sensitive = _check_1d(y_true=y_true, y_pred=y_pred, sensitive=sensitive)
    return _check_binary(y_true, "y_true"), _check_binary(y_pred, "y_pred"), sensitive


def _rate(num_mask: np.ndarray, den_mask: np.ndarray) -> float:
    """P(num | den) without warnings (nan if den is empty)."""
    d = int(den_mask.sum())
    return float((num_mask & den_mask).sum() / d) if d else float("nan")


def group_rates(y_true, y_pred, sensitive) -> dict[Any, dict[str, float]]:
    """Per-group counts and rates: ``{code: {n, n_pos, n_neg, selection_rate, tpr, fpr, accuracy}}``.

    Helper (not a registered metric). Undefined rates are nan here *without* a warning; the metrics
    that use them warn.
    """
    y_true, y_pred, sensitive = _prep(y_true, y_pred, sensitive)
    out: dict[Any, dict[str, float]] = {}
    pred1 = y_pred == 1
    for g in np.unique(sensitive):
        m = sensitive == g
        out[g.item() if hasattr(g, "item") else g] = _rates_of(y_true, pred1, m)
    return out


def _rates_of(y_true: np.ndarray, pred1: np.ndarray, m: np.ndarray) -> dict[str, float]:
    pos = m & (y_true == 1)
    neg = m & (y_true == 0)
    return {
        "n": int(m.sum()),
        "n_pos": int(pos.sum()),
        "n_neg": int(neg.sum()),
        "selection_rate": _rate(pred1, m),
        "tpr": _rate(pred1, pos),
        "fpr": _rate(pred1, neg),
        "accuracy": _rate(pred1 == (y_true == 1), m),
    }


def _unpriv_priv(y_true, y_pred, sensitive, privileged) -> tuple[dict[str, float], dict[str, float]]:
    y_true, y_pred, sensitive = _prep(y_true, y_pred, sensitive)
    pred1 = y_pred == 1
    priv = sensitive == privileged
    return _rates_of(y_true, pred1, ~priv), _rates_of(y_true, pred1, priv)


def _need(value: float, what: str) -> bool:
    """True if ``value`` is defined; otherwise warn about ``what``."""
    if np.isnan(value):
        _undefined(f"{what} is undefined (empty set)", stacklevel=4)
        return False
    return True


@register_metric("demographic_parity_difference", kind="fairness", higher_is_better=None, signed=True, needs=Needs(("y", "pred", "s"), groups="privileged"))
def demographic_parity_difference(y_true, y_pred, sensitive, *, privileged=1) -> float:
    """Signed statistical parity difference: SR_u - SR_p (AIF360 ``statistical_parity_difference``).

    Sign: negative means the unprivileged rows are selected less often; 0 is parity.
    More than two groups: all non-privileged rows are pooled into "u".
    ``y_true`` is accepted for a uniform signature and only checked for length.
    Edge case: no privileged or no unprivileged rows -> nan with a RuntimeWarning.
    """
    u, p = _unpriv_priv(y_true, y_pred, sensitive, privileged)
    if not (_need(u["selection_rate"], "selection rate of the unprivileged group")
            and _need(p["selection_rate"], "selection rate of the privileged group")):
        return float("nan")
    return u["selection_rate"] - p["selection_rate"]


@register_metric("demographic_parity_difference_abs", kind="fairness", higher_is_better=False, needs=Needs(("y", "pred", "s")))
def demographic_parity_difference_abs(y_true, y_pred, sensitive) -> float:
    """Absolute DP gap: max_g SR_g - min_g SR_g over the groups present in ``sensitive``.

    Equals fairlearn ``demographic_parity_difference`` (method "between_groups"); for two groups
    it is |SR_0 - SR_1|. Always >= 0, lower is fairer.
    Edge case: fewer than two groups present -> nan with a RuntimeWarning (fairlearn returns 0).
    """
    rates = group_rates(y_true, y_pred, sensitive)
    if len(rates) < 2:
        return _undefined("demographic parity gap needs at least two groups")
    sr = [r["selection_rate"] for r in rates.values()]
    return float(max(sr) - min(sr))


@register_metric("disparate_impact", kind="fairness", higher_is_better=None, needs=Needs(("y", "pred", "s"), groups="privileged"))
def disparate_impact(y_true, y_pred, sensitive, *, privileged=1) -> float:
    """Disparate impact ratio SR_u / SR_p (AIF360 ``disparate_impact``; cfdebias "DI").

    1 is parity; below 1 the unprivileged rows are selected less often; it can exceed 1.
    More than two groups: all non-privileged rows are pooled into "u".
    Edge cases: SR_p == 0 (division by zero) or an empty group -> nan with a RuntimeWarning.
    """
    u, p = _unpriv_priv(y_true, y_pred, sensitive, privileged)
    if not (_need(u["selection_rate"], "selection rate of the unprivileged group")
            and _need(p["selection_rate"], "selection rate of the privileged group")):
        return float("nan")
    if p["selection_rate"] == 0:
        return _undefined("disparate impact is undefined: the privileged selection rate is 0")
    return u["selection_rate"] / p["selection_rate"]


@register_metric("equal_opportunity_difference", kind="fairness", higher_is_better=None, signed=True, needs=Needs(("y", "pred", "s"), groups="privileged"))
def equal_opportunity_difference(y_true, y_pred, sensitive, *, privileged=1) -> float:
    """Signed equal-opportunity difference TPR_u - TPR_p (AIF360 ``equal_opportunity_difference``).

    Sign: negative means true positives of the unprivileged rows are accepted less often.
    More than two groups: all non-privileged rows are pooled into "u".
    Edge case: a side without positive labels (TPR undefined) -> nan with a RuntimeWarning.
    """
    u, p = _unpriv_priv(y_true, y_pred, sensitive, privileged)
    if not (_need(u["tpr"], "TPR of the unprivileged group (no positives)")
            and _need(p["tpr"], "TPR of the privileged group (no positives)")):
        return float("nan")
    return u["tpr"] - p["tpr"]


@register_metric("equal_opportunity_difference_abs", kind="fairness", higher_is_better=False, needs=Needs(("y", "pred", "s"), groups="privileged"))
def equal_opportunity_difference_abs(y_true, y_pred, sensitive, *, privileged=1) -> float:
    """Absolute equal-opportunity gap |TPR_u - TPR_p| (the EO gap of the unlearning matrix).

    Always >= 0, lower is fairer. Edge cases as :func:`equal_opportunity_difference`.
    """
    return abs(equal_opportunity_difference(y_true, y_pred, sensitive, privileged=privileged))


@register_metric("average_abs_odds_difference", kind="fairness", higher_is_better=False, needs=Needs(("y", "pred", "s"), groups="privileged"))
def average_abs_odds_difference(y_true, y_pred, sensitive, *, privileged=1) -> float:
    """AEOD = 1/2 * (|FPR_u - FPR_p| + |TPR_u - TPR_p|) (AIF360 ``average_abs_odds_difference``).

    Main metric of fairunlearn. Always >= 0, lower is fairer.
    More than two groups: all non-privileged rows are pooled into "u".
    Edge case: a side without positives or without negatives -> nan with a RuntimeWarning.
    """
    u, p = _unpriv_priv(y_true, y_pred, sensitive, privileged)
    ok = all([
        _need(u["tpr"], "TPR of the unprivileged group (no positives)"),
        _need(p["tpr"], "TPR of the privileged group (no positives)"),
        _need(u["fpr"], "FPR of the unprivileged group (no negatives)"),
        _need(p["fpr"], "FPR of the privileged group (no negatives)"),
    ])
    if not ok:
        return float("nan")
    return 0.5 * (abs(u["fpr"] - p["fpr"]) + abs(u["tpr"] - p["tpr"]))


@register_metric("equalized_odds_difference", kind="fairness", higher_is_better=False, needs=Needs(("y", "pred", "s")))
def equalized_odds_difference(y_true, y_pred, sensitive) -> float:
    """Worst-case equalized-odds gap: max( max_g TPR_g - min_g TPR_g, max_g FPR_g - min_g FPR_g ).

    Equals fairlearn ``equalized_odds_difference`` (default agg="worst_case", between groups);
    cobum's EO gap. Always >= 0, lower is fairer.
    Edge cases: a group without positives or without negatives (TPR/FPR undefined), or fewer than
    two groups -> nan with a RuntimeWarning.
    """
    rates = group_rates(y_true, y_pred, sensitive)
    if len(rates) < 2:
        return _undefined("equalized odds gap needs at least two groups")
    for g, r in rates.items():
        if np.isnan(r["tpr"]):
            return _undefined(f"equalized odds gap is undefined: group {g!r} has no positives")
        if np.isnan(r["fpr"]):
            return _undefined(f"equalized odds gap is undefined: group {g!r} has no negatives")
    tpr = [r["tpr"] for r in rates.values()]
    fpr = [r["fpr"] for r in rates.values()]
    return float(max(max(tpr) - min(tpr), max(fpr) - min(fpr)))


@register_metric("subgroup_accuracy", kind="fairness", higher_is_better=True, needs=Needs(("y", "pred", "s"), groups="per_group"))
def subgroup_accuracy(y_true, y_pred, sensitive, *, group) -> float:
    """Accuracy on the rows with ``sensitive == group`` (fairunlearn A.10 subgroup accuracy).

    Edge case: no rows in the group -> nan with a RuntimeWarning.
    """
    y_true, y_pred, sensitive = _check_1d(y_true=y_true, y_pred=y_pred, sensitive=sensitive)
    m = sensitive == group
    if not m.any():
        return _undefined(f"subgroup accuracy is undefined: no rows in group {group!r}")
    return float(np.mean(y_true[m] == y_pred[m]))


# --------------------------------------------------------------------------------------------------
# multiclass / multi-group gaps (cobum CUB-200 with 3 pose bins; section 4.1)


@register_metric("accuracy_gap", kind="fairness", higher_is_better=False, needs=Needs(("y", "pred", "s")))
def accuracy_gap(y_true, y_pred, sensitive) -> float:
    """Per-group accuracy gap: max_g acc(g) - min_g acc(g) over groups present (any labels).

    Edge case: fewer than two groups -> nan with a RuntimeWarning.
    """
    y_true, y_pred, sensitive = _check_1d(y_true=y_true, y_pred=y_pred, sensitive=sensitive)
    groups = np.unique(sensitive)
    if len(groups) < 2:
        return _undefined("accuracy gap needs at least two groups")
    acc = [np.mean(y_true[sensitive == g] == y_pred[sensitive == g]) for g in groups]
    return float(max(acc) - min(acc))


def _class_group_gap(y_true, y_pred, sensitive, *, tpr: bool) -> float:
    y_true, y_pred, sensitive = _check_1d(y_true=y_true, y_pred=y_pred, sensitive=sensitive)
    groups = np.unique(sensitive)
    if len(groups) < 2:
        return _undefined("class gap needs at least two groups", stacklevel=4)
    classes = np.unique(y_true)
    gaps, skipped = [], 0
    for c in classes:
        vals = []
        for g in groups:
            m = sensitive == g
            if tpr:
                m = m & (y_true == c)
            vals.append(np.mean(y_pred[m] == c) if m.any() else np.nan)
        if np.any(np.isnan(vals)):
            skipped += 1
            continue
        gaps.append(max(vals) - min(vals))
    if not gaps:
        return _undefined("class gap is undefined for every class (empty class-group cells)", stacklevel=4)
    if skipped:
        _undefined(f"class gap: {skipped} of {len(classes)} classes skipped (a group has no rows of the "
                   "class); averaged over the rest", stacklevel=4)
    return float(np.mean(gaps))


@register_metric("mean_class_dp_gap", kind="fairness", higher_is_better=False, needs=Needs(("y", "pred", "s")))
def mean_class_dp_gap(y_true, y_pred, sensitive) -> float:
    """Multiclass DP gap: mean over classes c of [max_g P(y_hat=c | g) - min_g P(y_hat=c | g)].

    Classes are those present in ``y_true``. cobum CUB-200 DP gap (groups = pose bins).
    Edge case: fewer than two groups -> nan with a RuntimeWarning.
    """
    return _class_group_gap(y_true, y_pred, sensitive, tpr=False)


@register_metric("mean_class_tpr_gap", kind="fairness", higher_is_better=False, needs=Needs(("y", "pred", "s")))
def mean_class_tpr_gap(y_true, y_pred, sensitive) -> float:
    """Multiclass EO (TPR) gap: mean over classes c of [max_g TPR_c(g) - min_g TPR_c(g)],
    TPR_c(g) = P(y_hat=c | y=c, g).

    cobum CUB-200 EO gap. Classes with no rows in some group are skipped with a RuntimeWarning;
    if every class is skipped, or fewer than two groups exist -> nan with a RuntimeWarning.
    """
    return _class_group_gap(y_true, y_pred, sensitive, tpr=True)


def percent_drop(gap_baseline: float, gap_method: float) -> float:
    """cobum's "% drop" of a gap relative to the baseline: 100 * (gap_o - gap_m) / gap_o.

    Positive: the gap shrank. Helper on scalars (not a registered metric).
    Edge case: gap_o == 0 or nan -> nan with a RuntimeWarning.
    """
    if not np.isfinite(gap_baseline) or not np.isfinite(gap_method) or gap_baseline == 0:
        return _undefined("percent drop is undefined (baseline gap 0 or nan)")
    return float(100.0 * (gap_baseline - gap_method) / gap_baseline)


# --------------------------------------------------------------------------------------------------
# cobum's DP and EO gaps per kind of bias (cobum.md §4.1) and their "% drop" against the original model


def target_class_rate_gap(y_true, y_pred, sensitive, *, target_class) -> float:
    """Gap of the target class's rate across groups, on the rows of that class only (cobum's patch bias):
    max_g P(y_hat=c | y=c, g) - min_g P(y_hat=c | y=c, g), c = ``target_class``.

    With the groups patched / unpatched this is |P(y_hat=bird | bird, patched) - P(y_hat=bird | bird,
    unpatched)|: on rows of class c the selection rate of c is its TPR, so cobum's DP and EO gaps coincide
    (cobum.md §4.1). Always >= 0, lower is fairer.
    Edge cases: no row of class c, or fewer than two groups among them -> nan with a RuntimeWarning.
    """
    y_true, y_pred, sensitive = _check_1d(y_true=y_true, y_pred=y_pred, sensitive=sensitive)
    rows = y_true == target_class
    groups = np.unique(sensitive[rows])
    if len(groups) < 2:
        return _undefined(f"target-class rate gap needs rows of class {target_class!r} in at least two groups")
    rates = [np.mean(y_pred[rows & (sensitive == g)] == target_class) for g in groups]
    return float(max(rates) - min(rates))


def average_odds_gap(y_true, y_pred, sensitive) -> float:
    """½ (max_g TPR_g - min_g TPR_g + max_g FPR_g - min_g FPR_g); for two groups AIF360's
    ``average_abs_odds_difference`` (cobum's EO option ``mean``). Binary labels and predictions.
    Edge cases: a group without positives or negatives, or fewer than two groups -> nan with a RuntimeWarning.
    """
    rates = group_rates(y_true, y_pred, sensitive)
    if len(rates) < 2 or any(np.isnan(r["tpr"]) or np.isnan(r["fpr"]) for r in rates.values()):
        return _undefined("average odds gap needs two groups, each with positives and negatives")
    tpr = [r["tpr"] for r in rates.values()]
    fpr = [r["fpr"] for r in rates.values()]
    return float(0.5 * (max(tpr) - min(tpr) + max(fpr) - min(fpr)))


BIASES = ("attribute", "patch", "pose")
GAP_KINDS = ("dp", "eo")
ODDS = ("worst", "mean")


def bias_gap(y_true, y_pred, sensitive, fairness, *, kind: str, odds: str = "worst") -> float:
    """cobum's DP (``kind="dp"``) or EO (``"eo"``) gap on the test rows, chosen by the dataset's bias
    ``fairness["bias"]`` (cobum.md §4.1; ``sensitive`` holds the bias groups):

    - ``attribute`` (CelebA: Smiling by Male): DP = max_g SR_g - min_g SR_g
      (:func:`demographic_parity_difference_abs`), EO = max(ΔTPR, ΔFPR) (:func:`equalized_odds_difference`;
      ``odds="mean"``: :func:`average_odds_gap`). A multiclass target is read as "is ``target_class``".
    - ``patch`` (CIFAR-10): :func:`target_class_rate_gap` of ``fairness["target_class"]`` for both.
    - ``pose`` (CUB-200, k pose bins): DP = :func:`mean_class_dp_gap`, EO = :func:`mean_class_tpr_gap`.

    Always >= 0. Edge cases as the underlying gap's (nan with a RuntimeWarning); an unknown bias, or a patch
    bias without a target class, is a ValueError.
    """
    if kind not in GAP_KINDS or odds not in ODDS:
        raise ValueError(f"kind must be one of {GAP_KINDS} and odds one of {ODDS}, got {kind!r}, {odds!r}")
    bias = (fairness or {}).get("bias")
    target = (fairness or {}).get("target_class")
    if bias == "pose":
        return (mean_class_dp_gap if kind == "dp" else mean_class_tpr_gap)(y_true, y_pred, sensitive)
    if bias == "patch":
        if target is None:
            raise ValueError("a patch bias needs fairness['target_class']")
        return target_class_rate_gap(y_true, y_pred, sensitive, target_class=target)
    if bias == "attribute":
        if target is not None:
            y_true, y_pred = np.asarray(y_true) == target, np.asarray(y_pred) == target
        if kind == "dp":
            return demographic_parity_difference_abs(y_true, y_pred, sensitive)
        return (equalized_odds_difference if odds == "worst" else average_odds_gap)(y_true, y_pred, sensitive)
    raise ValueError(f"unknown bias {bias!r} in the dataset's fairness description; known: {', '.join(BIASES)}")


BIAS_GAP_NEEDS = Needs(("y", "pred", "s", "fairness"))
GAP_DROP_NEEDS = Needs(("y", "pred", "pred_original", "s", "fairness"))


@register_metric("bias_dp_gap", kind="fairness", higher_is_better=False, needs=BIAS_GAP_NEEDS)
def bias_dp_gap(y_true, y_pred, sensitive, fairness) -> float:
    """cobum's DP gap of the dataset's bias (:func:`bias_gap`, kind ``dp``); >= 0, lower is fairer."""
    return bias_gap(y_true, y_pred, sensitive, fairness, kind="dp")


@register_metric("bias_eo_gap", kind="fairness", higher_is_better=False, needs=BIAS_GAP_NEEDS)
def bias_eo_gap(y_true, y_pred, sensitive, fairness) -> float:
    """cobum's EO gap of the dataset's bias (:func:`bias_gap`, kind ``eo``, worst case); >= 0, lower is fairer."""
    return bias_gap(y_true, y_pred, sensitive, fairness, kind="eo")


def gap_drop_pct(y_true, y_pred, y_pred_original, sensitive, fairness, *, kind: str, odds: str = "worst") -> float:
    """100·(gap_o − gap_m)/gap_o of :func:`bias_gap` (:func:`percent_drop`), o = the original model's predictions."""
    original = bias_gap(y_true, y_pred_original, sensitive, fairness, kind=kind, odds=odds)
    return percent_drop(original, bias_gap(y_true, y_pred, sensitive, fairness, kind=kind, odds=odds))


@register_metric("dp_gap_drop_pct", kind="fairness", higher_is_better=True, signed=True, needs=GAP_DROP_NEEDS)
def dp_gap_drop_pct(y_true, y_pred, y_pred_original, sensitive, fairness) -> float:
    """cobum "DP": % drop of the DP gap against the original model's, 100·(gap_o − gap_m)/gap_o (test split).

    Positive: the gap shrank; negative: it grew; 0 for the original model itself. Gap per bias:
    :func:`bias_gap`. Edge case: gap_o = 0 or undefined -> nan with a RuntimeWarning.
    """
    return gap_drop_pct(y_true, y_pred, y_pred_original, sensitive, fairness, kind="dp")


@register_metric("eo_gap_drop_pct", kind="fairness", higher_is_better=True, signed=True, needs=GAP_DROP_NEEDS)
def eo_gap_drop_pct(y_true, y_pred, y_pred_original, sensitive, fairness) -> float:
    """cobum "EO": % drop of the EO gap (worst case of ΔTPR, ΔFPR for an attribute bias) against the original
    model's, as :func:`dp_gap_drop_pct`. Edge case: gap_o = 0 or undefined -> nan with a RuntimeWarning."""
    return gap_drop_pct(y_true, y_pred, y_pred_original, sensitive, fairness, kind="eo")


@register_metric("eo_mean_gap_drop_pct", kind="fairness", higher_is_better=True, signed=True, needs=GAP_DROP_NEEDS)
def eo_mean_gap_drop_pct(y_true, y_pred, y_pred_original, sensitive, fairness) -> float:
    """cobum's EO option ``mean`` (cobum.md §4.1: store both): % drop of ½(ΔTPR + ΔFPR) for an attribute bias
    (the other biases' EO gap is unchanged). Edge case: gap_o = 0 or undefined -> nan with a RuntimeWarning."""
    return gap_drop_pct(y_true, y_pred, y_pred_original, sensitive, fairness, kind="eo", odds="mean")
