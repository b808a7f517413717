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
``mia_lr_auc``, ``mia_lr_member_rate``, ``mia_svc_confidence_member_rate``,
``mia_svc_entropy_member_rate``, ``mia_auc_loss``.

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
# (b) SVC member rate (cfdebias section 4.1; SalUn SVC_MIA / Bad Teacher metrics.py)


def _svc_member_rate(feature: Callable[[np.ndarray, np.ndarray], np.ndarray], name: str,
                     p_forget, y_forget, p_retain, y_retain, p_test, y_test, *,
                     seed: int, C: float, max_shadow: int | None) -> dict[str, float]:
    from sklearn.svm import SVC

    pf, yf, pr, yr, pt, yt = _all(p_forget, y_forget, p_retain, y_retain, p_test, y_test)
    rng = np.random.default_rng(seed)
    n = min(len(yr), len(yt))
    if max_shadow is not None:
        if int(max_shadow) < 1:
            raise ValueError("max_shadow must be >= 1")
        n = min(n, int(max_shadow))
    out: dict[str, float] = {"member_rate": float("nan"), "efficacy": float("nan"),
                             "n_shadow_members": n, "n_shadow_nonmembers": n, "n_forget": len(yf),
                             "seed": seed, "C": float(C)}
    if n == 0 or len(yf) == 0:
        _undefined(f"{name}: empty retain, test or forget set, member rate undefined", stacklevel=3)
        return out
    ir = np.sort(rng.choice(len(yr), size=n, replace=False))
    it = np.sort(rng.choice(len(yt), size=n, replace=False)) if n < len(yt) else np.arange(len(yt))
    x = np.r_[feature(pr[ir], yr[ir]), feature(pt[it], yt[it])].reshape(-1, 1)
    lab = np.r_[np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)]
    attacker = SVC(C=C, kernel="rbf", gamma="auto")
    attacker.fit(x, lab)
    rate = float(np.mean(attacker.predict(feature(pf, yf).reshape(-1, 1)) == 1))
    out["member_rate"] = rate
    out["efficacy"] = 1.0 - rate
    return out


def svc_confidence_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0,
                               C: float = 3.0, max_shadow: int | None = None) -> dict[str, float]:
    """cfdebias MIA preset: SVC on the true-label confidence p[y]; share of D_f predicted *member*.

    Shadow set: members (1) = a random subset of D_r of size n, non-members (0) = n test rows,
    n = min(|D_r|, |test|, max_shadow) (all of the test split when it is the smaller side, as in
    SalUn's ``SVC_MIA``). Attacker ``SVC(C=3, kernel="rbf", gamma="auto")``.
    Returns ``member_rate`` (lower = more forgotten; cfdebias "MIA"), ``efficacy`` = 1 - member_rate
    (SalUn "MIA-efficacy"), ``n_shadow_members``, ``n_shadow_nonmembers``, ``n_forget``, ``seed``, ``C``.
    Edge case: an empty retain, test or forget set -> nan with a RuntimeWarning.
    """
    return _svc_member_rate(confidence, "svc_confidence_member_rate", p_forget, y_forget, p_retain, y_retain,
                            p_test, y_test, seed=seed, C=C, max_shadow=max_shadow)


def svc_entropy_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0,
                            C: float = 3.0, max_shadow: int | None = None) -> dict[str, float]:
    """Bad Teacher MIA variant: as :func:`svc_confidence_member_rate` with the prediction entropy as
    the single feature (retain subset vs test shadow set, SVC(C=3, rbf, gamma="auto"), mean
    predicted-member rate on D_f). Same returned keys.
    """
    return _svc_member_rate(lambda p, y: entropy(p), "svc_entropy_member_rate", p_forget, y_forget, p_retain,
                            y_retain, p_test, y_test, seed=seed, C=C, max_shadow=max_shadow)


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
    rng = np.random.default_rng(seed)
    n = min(len(yf), len(yt))
    out: dict[str, float] = {"auc": float("nan"), "n": n, "seed": seed}
    if n == 0:
        _undefined("auc_loss: empty forget or test set, AUC undefined", stacklevel=2)
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


@register_metric("mia_svc_entropy_member_rate", kind="privacy", higher_is_better=False, needs=MIA_NEEDS)
def mia_svc_entropy_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *,
                                seed: int = 0) -> float:
    """Share of D_f predicted member by the entropy SVC (``svc_entropy_member_rate``)."""
    return svc_entropy_member_rate(p_forget, y_forget, p_retain, y_retain, p_test, y_test, seed=seed)["member_rate"]


@register_metric("mia_auc_loss", kind="privacy", higher_is_better=False, needs=MIA_NEEDS)
def mia_auc_loss(p_forget, y_forget, p_retain, y_retain, p_test, y_test, *, seed: int = 0) -> float:
    """cobum "MIA": ROC AUC of -loss, D_f (positive) vs test (negative) (``auc_loss``; 0.5 = chance)."""
    return auc_loss(p_forget, y_forget, p_retain, y_retain, p_test, y_test, seed=seed)["auc"]
