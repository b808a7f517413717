"""Membership-inference attacks (MIA) as named, seeded presets.

Every preset has the same signature::

    preset(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed=0, ...) -> dict

- ``p_*``: predicted class-probability matrices of shape (n, C) (rows sum to 1). A 1-D array is
  read as the probability of class 1 of a binary model and expanded to (n, 2).
- ``y_*``: integer labels in [0, C).
- Members are training rows (retain set D_r and, before unlearning, the forget set D_f);
  non-members are test rows. All subsampling uses ``numpy.random.default_rng(seed)``.

Per-sample features: ``confidence`` = p[y] (probability of the true label);
``loss`` = -log(max(p[y], 1e-12)) (cross-entropy); ``entropy`` = -sum_c p_c log p_c (0 log 0 = 0).

Presets return plain dicts of floats plus the sample sizes and the seed. Registered scalar metrics
(kind "privacy", lower = less membership signal) give one number each:
``mia_lr_auc``, ``mia_lr_member_rate``, ``mia_svc_confidence_member_rate`` (the SVC on the full
shadow set, the slow reference), ``mia_svc_confidence_member_rate_sampled`` (the same SVC on 2,000 + 2,000
label-stratified shadow rows), ``mia_threshold_confidence_member_rate`` (the exact one-cut threshold
attacker on the same feature), ``mia_svc_entropy_member_rate``, ``mia_auc_loss``.

Undefined results (too few samples on a side, an empty forget set) are nan with a RuntimeWarning.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..core.errors import FairbenchError
from .classification import _mann_whitney_auc, _undefined
from .registry import Needs, register_metric

# the attack is trained on retain (members) and test (non-members) and scored on the forget rows
MIA_NEEDS = Needs(("proba:forget", "y:forget", "proba:retain", "y:retain", "proba", "y"), seeded=True)

_EPS = 1e-12


def _probs(p: Any, y: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y)
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2:
        raise ValueError(f"p_{name} must be (n, C) probabilities, got shape {p.shape}")
    if y.ndim != 1 or len(y) != len(p):
        raise ValueError(f"y_{name} must be 1-D with {len(p)} entries, got shape {y.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1 + 1e-6):
        raise ValueError(f"p_{name} must hold probabilities in [0, 1]")
    if len(y) and (not np.issubdtype(y.dtype, np.integer) and not np.all(y == np.round(y))):
        raise ValueError(f"y_{name} must hold integer class labels")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"y_{name} has labels outside [0, {p.shape[1]})")
    return p, y


def confidence(p, y) -> np.ndarray:
    """Per-sample probability of the true label, p[i, y_i]."""
    p, y = _probs(p, y, "")
    return p[np.arange(len(y)), y]


def cross_entropy(p, y) -> np.ndarray:
    """Per-sample cross-entropy loss -log(max(p[i, y_i], 1e-12))."""
    return -np.log(np.maximum(confidence(p, y), _EPS))


def entropy(p) -> np.ndarray:
    """Per-sample prediction entropy -sum_c p_c log p_c (0 log 0 = 0)."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -t.sum(axis=1)


def _all(p_forget, y_forget, p_retain, y_retain, p_test, y_test):
    pf, yf = _probs(p_forget, y_forget, "forget")
    pr, yr = _probs(p_retain, y_retain, "retain")
    pt, yt = _probs(p_test, y_test, "test")
    if not (pf.shape[1] == pr.shape[1] == pt.shape[1]):
        raise ValueError(f"class counts differ: forget {pf.shape[1]}, retain {pr.shape[1]}, test {pt.shape[1]}")
    return pf, yf, pr, yr, pt, yt


# --------------------------------------------------------------------------------------------------
# (a) logistic regression on [loss, entropy]


def mia_loss_entropy_lr(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0) -> dict[str, float]:
    """Logistic-regression attacker on per-sample [loss, entropy] features.

    Procedure: h = min(|D_r|, |test|) // 2. Draw 2h retain rows (members, label 1) and 2h test rows
    (non-members, label 0) without replacement; the first h of each side train the attacker
    (standardised features + ``LogisticRegression``), the other h of each side form a balanced
    evaluation set. Returns

    - ``auc``: ROC AUC of the attacker's member probability on the eval set (0.5 = chance, higher
      = members identifiable);
    - ``accuracy``: accuracy of its hard decision (p >= 0.5) on the eval set;
    - ``member_rate``: share of D_f predicted as member (lower = more forgotten);
    - ``n_train`` (= 2h), ``n_eval`` (= 2h), ``n_forget``, ``seed``.

    Edge cases: h == 0 -> every value nan with a RuntimeWarning; empty D_f -> member_rate nan with a
    RuntimeWarning.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pf, yf, pr, yr, pt, yt = _all(p_forget, y_forget, p_retain, y_retain, p_test, y_test)
    rng = np.random.default_rng(seed)
    h = min(len(yr), len(yt)) // 2
    out: dict[str, float] = {"auc": float("nan"), "accuracy": float("nan"), "member_rate": float("nan"),
                             "n_train": 2 * h, "n_eval": 2 * h, "n_forget": len(yf), "seed": seed}
    if h == 0:
        _undefined("mia_loss_entropy_lr: needs at least 2 retain and 2 test rows", stacklevel=2)
        return out

    def feats(p, y):
        return np.column_stack([cross_entropy(p, y), entropy(p)])

    ir = rng.permutation(len(yr))[: 2 * h]
    it = rng.permutation(len(yt))[: 2 * h]
    fr, ft = feats(pr[ir], yr[ir]), feats(pt[it], yt[it])
    x_train = np.vstack([fr[:h], ft[:h]])
    x_eval = np.vstack([fr[h:], ft[h:]])
    lab = np.r_[np.ones(h, dtype=np.int64), np.zeros(h, dtype=np.int64)]
    attacker = make_pipeline(StandardScaler(), LogisticRegression())
    attacker.fit(x_train, lab)
    prob = attacker.predict_proba(x_eval)[:, 1]
    out["auc"] = _mann_whitney_auc(lab, prob, "MIA AUC")
    out["accuracy"] = float(np.mean((prob >= 0.5).astype(np.int64) == lab))
    if len(yf):
        out["member_rate"] = float(np.mean(attacker.predict_proba(feats(pf, yf))[:, 1] >= 0.5))
    else:
        _undefined("mia_loss_entropy_lr: empty forget set, member rate undefined", stacklevel=2)
    return out


# --------------------------------------------------------------------------------------------------
# (b) SVC member rate (cfdebias section 4.1; SalUn SVC_MIA / Bad Teacher metrics.py) and its exact
#     one-dimensional alternative, the threshold attacker

# shadow rows per side of the sampled confidence SVC: the SVC's fit is quadratic in its points (15k + 15k
# Adult rows took minutes), 2,000 + 2,000 fit in about a second; spread over seeds in the cfdebias notes
SAMPLED_SHADOW = 2000


def stratified_sample(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``size`` rows of ``y`` drawn without replacement, stratified by label: each
    label gets its share of ``size`` (largest remainders round), uniformly at random within the label.
    All rows (in order) when ``size >= len(y)``."""
    y = np.asarray(y)
    if size >= len(y):
        return np.arange(len(y))
    labels, counts = np.unique(y, return_counts=True)
    quota = counts * size / len(y)
    take = np.floor(quota).astype(np.int64)
    remainder_order = np.argsort(-(quota - take), kind="stable")
    take[remainder_order[: size - int(take.sum())]] += 1
    picks = [rng.choice(np.flatnonzero(y == label), size=int(k), replace=False) for label, k in zip(labels, take)]
    return np.sort(np.concatenate(picks))


def _shadow_scores(feature, name, p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int,
                   max_shadow: int | None, stratify: bool, extra: dict[str, Any]):
    """The attacker's training set (members = D_r rows, non-members = test rows, n a side) and D_f's
    feature, with the result dict every member-rate preset returns; ``None`` scores where undefined."""
    pf, yf, pr, yr, pt, yt = _all(p_forget, y_forget, p_retain, y_retain, p_test, y_test)
    rng = np.random.default_rng(seed)
    n = min(len(yr), len(yt))
    if max_shadow is not None:
        if int(max_shadow) < 1:
            raise ValueError("max_shadow must be >= 1")
        n = min(n, int(max_shadow))
    out: dict[str, Any] = {"member_rate": float("nan"), "efficacy": float("nan"),
                           "n_shadow_members": n, "n_shadow_nonmembers": n, "n_forget": len(yf),
                           "seed": seed, **extra}
    if n == 0 or len(yf) == 0:
        _undefined(f"{name}: empty retain, test or forget set, member rate undefined", stacklevel=4)
        return out, None, None, None
    if stratify:
        ir, it = stratified_sample(yr, n, rng), stratified_sample(yt, n, rng)
    else:  # the reference draw (unchanged, so stored results of the full-set preset stay reproducible)
        ir = np.sort(rng.choice(len(yr), size=n, replace=False))
        it = np.sort(rng.choice(len(yt), size=n, replace=False)) if n < len(yt) else np.arange(len(yt))
    x = np.r_[feature(pr[ir], yr[ir]), feature(pt[it], yt[it])]
    lab = np.r_[np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)]
    return out, x, lab, feature(pf, yf)


def _svc_member_rate(feature: Callable[[np.ndarray, np.ndarray], np.ndarray], name: str,
                     p_forget, y_forget, p_retain, y_retain, p_test, y_test, *,
                     seed: int, C: float, max_shadow: int | None, stratify: bool = False) -> dict[str, float]:
    from sklearn.svm import SVC

    out, x, lab, x_forget = _shadow_scores(feature, name, p_forget, y_forget, p_retain, y_retain, p_test, y_test,
                                           seed=seed, max_shadow=max_shadow, stratify=stratify,
                                           extra={"C": float(C)})
    if x is None:
        return out
    attacker = SVC(C=C, kernel="rbf", gamma="auto")
    attacker.fit(x.reshape(-1, 1), lab)
    rate = float(np.mean(attacker.predict(x_forget.reshape(-1, 1)) == 1))
    out["member_rate"] = rate
    out["efficacy"] = 1.0 - rate
    return out


def svc_confidence_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0,
                               C: float = 3.0, max_shadow: int | None = None,
                               stratify: bool = False) -> dict[str, float]:
    """cfdebias MIA preset: SVC on the true-label confidence p[y]; share of D_f predicted *member*.

    Shadow set: members (1) = a random subset of D_r of size n, non-members (0) = n test rows,
    n = min(|D_r|, |test|, max_shadow) (all of the test split when it is the smaller side, as in
    SalUn's ``SVC_MIA``). ``stratify``: each side's n rows are drawn stratified by label
    (:func:`stratified_sample`), so a bounded sample keeps each side's class mix. Attacker
    ``SVC(C=3, kernel="rbf", gamma="auto")``.
    Returns ``member_rate`` (lower = more forgotten; cfdebias "MIA"), ``efficacy`` = 1 - member_rate
    (SalUn "MIA-efficacy"), ``n_shadow_members``, ``n_shadow_nonmembers``, ``n_forget``, ``seed``, ``C``.
    Edge case: an empty retain, test or forget set -> nan with a RuntimeWarning.
    """
    return _svc_member_rate(confidence, "svc_confidence_member_rate", p_forget, y_forget, p_retain, y_retain,
                            p_test, y_test, seed=seed, C=C, max_shadow=max_shadow, stratify=stratify)


def svc_entropy_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0,
                            C: float = 3.0, max_shadow: int | None = None) -> dict[str, float]:
    """Bad Teacher MIA variant: as :func:`svc_confidence_member_rate` with the prediction entropy as
    the single feature (retain subset vs test shadow set, SVC(C=3, rbf, gamma="auto"), mean
    predicted-member rate on D_f). Same returned keys.
    """
    return _svc_member_rate(lambda p, y: entropy(p), "svc_entropy_member_rate", p_forget, y_forget, p_retain,
                            y_retain, p_test, y_test, seed=seed, C=C, max_shadow=max_shadow)


def best_threshold(score: np.ndarray, member: np.ndarray) -> tuple[float, int, float]:
    """The threshold rule of highest accuracy on (score, member) pairs, found exactly over every cut.

    Rules: ``score >= t`` is member (direction +1) or ``score < t`` is member (direction -1), t the
    midpoint between two adjacent distinct scores or ±inf (everyone / no one a member). Returns
    (t, direction, accuracy); ties go to the smallest t, direction +1 first."""
    order = np.argsort(score, kind="stable")
    s, m = score[order], member[order].astype(np.int64)
    total = len(s)
    members_below = np.r_[0, np.cumsum(m)]  # members among the i lowest scores, i = 0..total
    nonmembers_below = np.arange(total + 1) - members_below
    # cut i: the i lowest scores on one side; rule +1 calls the rest members
    accuracy_high = (nonmembers_below + (members_below[-1] - members_below)) / total
    valid = np.r_[True, s[1:] > s[:-1], True]  # no cut between equal scores
    accuracy = np.where(valid, np.maximum(accuracy_high, 1.0 - accuracy_high), -1.0)
    cut = int(np.argmax(accuracy))
    direction = 1 if accuracy_high[cut] >= 1.0 - accuracy_high[cut] else -1
    if cut == 0:
        threshold = -np.inf
    elif cut == total:
        threshold = np.inf
    else:
        threshold = float((s[cut - 1] + s[cut]) / 2)
    return threshold, direction, float(accuracy[cut])


def threshold_confidence_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0,
                                     max_shadow: int | None = None) -> dict[str, float]:
    """Threshold attacker on the true-label confidence p[y]: share of D_f predicted *member*.

    Same shadow set as :func:`svc_confidence_member_rate` (n = min(|D_r|, |test|, max_shadow) a side,
    stratified by label). The attacker is the one-dimensional rule ``p[y] >= t`` (or ``p[y] < t``)
    of highest accuracy on the shadow set, found exactly over every cut (:func:`best_threshold`, O(n log n));
    an RBF SVC on one feature learns a union of intervals, this a single one, so it is the SVC's
    one-cut special case. Returns ``member_rate`` (lower = more forgotten), ``efficacy`` = 1 - member_rate,
    ``threshold``, ``direction`` (+1: high confidence = member), ``shadow_accuracy`` (0.5 = no signal;
    then t = -inf and every D_f row is called member), ``n_shadow_members``, ``n_shadow_nonmembers``,
    ``n_forget``, ``seed``.
    Edge case: an empty retain, test or forget set -> nan with a RuntimeWarning.
    """
    out, x, lab, x_forget = _shadow_scores(confidence, "threshold_confidence_member_rate", p_forget, y_forget,
                                           p_retain, y_retain, p_test, y_test, seed=seed, max_shadow=max_shadow,
                                           stratify=True, extra={"threshold": float("nan"), "direction": 0,
                                                                 "shadow_accuracy": float("nan")})
    if x is None:
        return out
    threshold, direction, accuracy = best_threshold(x, lab)
    member = x_forget >= threshold if direction > 0 else x_forget < threshold
    rate = float(np.mean(member))
    out.update(member_rate=rate, efficacy=1.0 - rate, threshold=threshold,
               direction=direction, shadow_accuracy=accuracy)
    return out


# --------------------------------------------------------------------------------------------------
# (c) loss-threshold AUC (cobum section 4.2)


def auc_loss(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0) -> dict[str, float]:
    """cobum MIA preset: ROC AUC of score = -loss, positives = D_f, negatives = test rows.

    Both sides are subsampled without replacement to n = min(|D_f|, |test|). AUC > 0.5 means the
    forget rows look like members (lower loss than unseen data); 0.5 is chance. ``p_retain`` and
    ``y_retain`` are validated but unused (uniform preset signature).
    Returns ``auc``, ``n`` (per side), ``seed``.
    Edge case: n == 0 -> auc nan with a RuntimeWarning.
    """
    pf, yf, _, _, pt, yt = _all(p_forget, y_forget, p_retain, y_retain, p_test, y_test)
    return forget_test_loss_auc(pf, yf, pt, yt, seed=seed)


def forget_test_loss_auc(p_forget, y_forget, p_test, y_test, *, seed: int = 0) -> dict[str, float]:
    """:func:`auc_loss` without the retain set it does not use (cobum's Co-BUM scores three models' MIA)."""
    pf, yf = _probs(p_forget, y_forget, "forget")
    pt, yt = _probs(p_test, y_test, "test")
    if pf.shape[1] != pt.shape[1]:
        raise ValueError(f"class counts differ: forget {pf.shape[1]}, test {pt.shape[1]}")
    rng = np.random.default_rng(seed)
    n = min(len(yf), len(yt))
    out: dict[str, float] = {"auc": float("nan"), "n": n, "seed": seed}
    if n == 0:
        _undefined("auc_loss: empty forget or test set, AUC undefined", stacklevel=3)
        return out
    i_f = np.sort(rng.choice(len(yf), size=n, replace=False))
    i_t = np.sort(rng.choice(len(yt), size=n, replace=False))
    score = -np.r_[cross_entropy(pf[i_f], yf[i_f]), cross_entropy(pt[i_t], yt[i_t])]
    lab = np.r_[np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)]
    out["auc"] = _mann_whitney_auc(lab, score, "MIA AUC")
    return out


MIA_PRESETS: dict[str, Callable[..., dict[str, float]]] = {
    "mia_loss_entropy_lr": mia_loss_entropy_lr,
    "svc_confidence_member_rate": svc_confidence_member_rate,
    "svc_entropy_member_rate": svc_entropy_member_rate,
    "threshold_confidence_member_rate": threshold_confidence_member_rate,
    "auc_loss": auc_loss,
}


def run_mia(name: str, p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0,
            **kwargs: Any) -> dict[str, float]:
    """Run MIA preset ``name``; an unknown name raises FairbenchError. The dict gains ``preset``."""
    if name not in MIA_PRESETS:
        raise FairbenchError(f"unknown MIA preset '{name}'; known: {', '.join(sorted(MIA_PRESETS))}")
    out = MIA_PRESETS[name](p_forget, y_forget, p_retain, y_retain, p_test, y_test, seed=seed, **kwargs)
    return {"preset": name, **out}


# --------------------------------------------------------------------------------------------------
# registered scalar accessors


@register_metric("mia_lr_auc", kind="privacy", higher_is_better=False, needs=MIA_NEEDS)
def mia_lr_auc(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0) -> float:
    """AUC of the ``mia_loss_entropy_lr`` attacker on its balanced retain-vs-test eval set (0.5 = chance)."""
    return mia_loss_entropy_lr(p_forget, y_forget, p_retain, y_retain, p_test, y_test, seed=seed)["auc"]


@register_metric("mia_lr_member_rate", kind="privacy", higher_is_better=False, needs=MIA_NEEDS)
def mia_lr_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0) -> float:
    """Share of D_f that the ``mia_loss_entropy_lr`` attacker predicts as member (lower = more forgotten)."""
    return mia_loss_entropy_lr(p_forget, y_forget, p_retain, y_retain, p_test, y_test, seed=seed)["member_rate"]


@register_metric("mia_svc_confidence_member_rate", kind="privacy", higher_is_better=False, needs=MIA_NEEDS)
def mia_svc_confidence_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *,
                                   seed: int = 0) -> float:
    """cfdebias "MIA": share of D_f predicted member by the confidence SVC (``svc_confidence_member_rate``)."""
    return svc_confidence_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, seed=seed)["member_rate"]


@register_metric("mia_svc_confidence_member_rate_sampled", kind="privacy", higher_is_better=False,
                 needs=MIA_NEEDS)
def mia_svc_confidence_member_rate_sampled(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *,
                                           seed: int = 0, max_shadow: int = SAMPLED_SHADOW,
                                           stratify: bool = True) -> float:
    """cfdebias "MIA" on a bounded shadow set: the confidence SVC fitted on ``max_shadow`` (2,000) D_r
    and as many test rows, each side stratified by label (``svc_confidence_member_rate``); share of D_f
    predicted member (lower = more forgotten). Where the sample takes every row of both sets
    (|D_r| = |test| <= 2,000) it equals ``mia_svc_confidence_member_rate``; nan with a warning where a
    set is empty."""
    return svc_confidence_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, seed=seed,
                                      max_shadow=max_shadow, stratify=stratify)["member_rate"]


@register_metric("mia_threshold_confidence_member_rate", kind="privacy", higher_is_better=False, needs=MIA_NEEDS)
def mia_threshold_confidence_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *,
                                         seed: int = 0) -> float:
    """Share of D_f predicted member by the exact confidence-threshold attacker fitted on the full
    D_r-vs-test shadow set (``threshold_confidence_member_rate``; lower = more forgotten, nan with a
    warning where a set is empty)."""
    return threshold_confidence_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test,
                                            seed=seed)["member_rate"]


@register_metric("mia_svc_entropy_member_rate", kind="privacy", higher_is_better=False, needs=MIA_NEEDS)
def mia_svc_entropy_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *,
                                seed: int = 0) -> float:
    """Share of D_f predicted member by the entropy SVC (``svc_entropy_member_rate``)."""
    return svc_entropy_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, seed=seed)["member_rate"]


@register_metric("mia_auc_loss", kind="privacy", higher_is_better=False, needs=MIA_NEEDS)
def mia_auc_loss(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0) -> float:
    """cobum "MIA": ROC AUC of -loss, D_f (positive) vs test (negative) (``auc_loss``; 0.5 = chance)."""
    return auc_loss(p_forget, y_forget, p_retain, y_retain, p_test, y_test, seed=seed)["auc"]
