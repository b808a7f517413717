"""Recommendation metrics on the unbiased test split (ultd.md section 4.2).

Inputs are parallel 1-D arrays over test (user, item) pairs: ``users``, ``items`` (integer ids),
``y_true`` (binary relevance, i.e. ratings already thresholded, 1 = positive) and ``score``.

Ranking, per user, over that user's test items only:

- Order: **stable descending score, ties broken by ascending item id** (documented choice; the
  AutoDebias code breaks ties by descending item id and the DR-JL code uses NumPy's default
  argsort; ties only matter for degenerate, e.g. constant, predictors).
- Top-K list T_u = the first min(K, n_u) items (n_u = number of test items of u). A user with fewer
  than K test items simply has a shorter list: the DCG discount vector is truncated to the list
  length, which equals padding with non-hits (AutoDebias fills with -1e6-scored non-test items that
  never count as hits; same result).
- DCG@K_u = sum_{j=1}^{min(K, n_u)} 1[T_u(j) in P_u] / log2(j + 1);
  IDCG@K_u = sum_{j=1}^{min(|P_u|, K)} 1 / log2(j + 1); NDCG@K_u = DCG / IDCG.
- Recall@K_u = |T_u cap P_u| / |P_u|.

Two conventions, which agree on users with at least one positive and differ in the population:

- ``"drjl"`` (primary; haoxuanli-pku/ICDE24-MNAR ``ndcg_func`` / ``recall_func``): average over
  **all** users in the test set; a user with no positive has NDCG = 1 and Recall = 0
  (hits / max(1, |P_u|)).
- ``"autodebias"`` (secondary; DongHande/AutoDebias): average over users with at least one positive
  only; users without positives are skipped. If no user has a positive -> nan with a RuntimeWarning.

AUC is global over all pooled test pairs in both conventions (:func:`pooled_auc`).
"""

from __future__ import annotations

import numpy as np

from .classification import _check_1d, _check_binary, _check_finite, _mann_whitney_auc, _undefined
from .registry import Needs, register_metric

CONVENTIONS = ("drjl", "autodebias")


@register_metric("pooled_auc", kind="ranking", higher_is_better=True, needs=Needs(("y", "score")))
def pooled_auc(y_true, score) -> float:
    """Global ROC AUC over all pooled test pairs (not averaged per user), = sklearn roc_auc_score.

    Mann-Whitney with ties counted 1/2. Edge case: one class only -> nan with a RuntimeWarning.
    """
    y_true, score = _check_1d(y_true=y_true, score=score)
    return _mann_whitney_auc(y_true, score, "pooled AUC")


def _per_user(users, items, y_true, score, k) -> dict[str, np.ndarray]:
    """Per-user DCG, IDCG, hits and positive counts (vectorised; users in ascending id order)."""
    users, items, y_true, score = _check_1d(users=users, items=items, y_true=y_true, score=score)
    y_true = _check_binary(y_true, "y_true")
    score = _check_finite(score, "score")
    if isinstance(k, bool) or int(k) != k or int(k) < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    # sort by user, then descending score, then ascending item (lexsort: last key is primary)
    order = np.lexsort((items, -score, users))
    u_sorted = users[order]
    rel = y_true[order]
    uniq, start, counts = np.unique(u_sorted, return_index=True, return_counts=True)
    uid = np.repeat(np.arange(len(uniq)), counts)
    rank = np.arange(len(order)) - np.repeat(start, counts)  # 0-based rank within the user
    in_top = rank < k
    disc = 1.0 / np.log2(rank + 2.0)
    n_users = len(uniq)
    dcg = np.bincount(uid, weights=rel * disc * in_top, minlength=n_users)
    hits = np.bincount(uid, weights=rel * in_top, minlength=n_users)
    n_pos = np.bincount(uid, weights=rel, minlength=n_users).astype(np.int64)
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])  # ideal[m] = sum_{j<=m}
    idcg = ideal[np.minimum(n_pos, k)]
    return {"users": uniq, "dcg": dcg, "idcg": idcg, "hits": hits, "n_pos": n_pos, "n_items": counts}


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown metric convention {convention!r}; use one of {CONVENTIONS}")


def ndcg_per_user(users, items, y_true, score, k, convention: str = "drjl") -> tuple[np.ndarray, np.ndarray]:
    """Helper: (user ids, NDCG@K per user) for the users averaged under ``convention``."""
    _check_convention(convention)
    r = _per_user(users, items, y_true, score, k)
    has_pos = r["n_pos"] > 0
    vals = np.ones(len(r["users"]))
    vals[has_pos] = r["dcg"][has_pos] / r["idcg"][has_pos]
    if convention == "autodebias":
        return r["users"][has_pos], vals[has_pos]
    return r["users"], vals


def recall_per_user(users, items, y_true, score, k, convention: str = "drjl") -> tuple[np.ndarray, np.ndarray]:
    """Helper: (user ids, Recall@K per user) for the users averaged under ``convention``."""
    _check_convention(convention)
    r = _per_user(users, items, y_true, score, k)
    has_pos = r["n_pos"] > 0
    vals = r["hits"] / np.maximum(1, r["n_pos"])
    if convention == "autodebias":
        return r["users"][has_pos], vals[has_pos]
    return r["users"], vals


def _mean(vals: np.ndarray, what: str) -> float:
    if len(vals) == 0:
        return _undefined(f"{what} is undefined: no user to average over", stacklevel=4)
    return float(vals.mean())


@register_metric("ndcg_at_k", kind="ranking", higher_is_better=True, needs=Needs(("users", "items", "y", "score", "k")))
def ndcg_at_k(users, items, y_true, score, k, convention: str = "drjl") -> float:
    """NDCG@K averaged over users (module docstring: ranking, ties, short lists, conventions).

    NDCG@K_u = [sum_{j<=min(K,n_u)} 1[T_u(j) positive] / log2(j+1)] / [sum_{j<=min(|P_u|,K)} 1/log2(j+1)].
    ``convention="drjl"``: all test users, NDCG = 1 for users without positives.
    ``convention="autodebias"``: users with >= 1 positive only.
    Edge cases: empty input, or no user with a positive under "autodebias" -> nan with a RuntimeWarning.
    """
    _, vals = ndcg_per_user(users, items, y_true, score, k, convention)
    return _mean(vals, f"NDCG@{k} ({convention})")


@register_metric("recall_at_k", kind="ranking", higher_is_better=True, needs=Needs(("users", "items", "y", "score", "k")))
def recall_at_k(users, items, y_true, score, k, convention: str = "drjl") -> float:
    """Recall@K averaged over users: |top-K cap positives| / |positives| per user.

    ``convention="drjl"``: all test users, hits / max(1, |P_u|) (0 for users without positives).
    ``convention="autodebias"``: users with >= 1 positive only.
    Edge cases: empty input, or no user with a positive under "autodebias" -> nan with a RuntimeWarning.
    """
    _, vals = recall_per_user(users, items, y_true, score, k, convention)
    return _mean(vals, f"Recall@{k} ({convention})")


# The AutoDebias convention under its own names, so a task asks for either convention like any metric.
register_metric("ndcg_at_k_autodebias", kind="ranking", higher_is_better=True,
                needs=Needs(("users", "items", "y", "score", "k"), options={"convention": "autodebias"}))(ndcg_at_k)
register_metric("recall_at_k_autodebias", kind="ranking", higher_is_better=True,
                needs=Needs(("users", "items", "y", "score", "k"), options={"convention": "autodebias"}))(recall_at_k)


def ranking_report(users, items, y_true, score, k) -> dict[str, float]:
    """Helper: AUC plus NDCG@K and Recall@K in both conventions, keys ``auc``, ``ndcg@K``,
    ``recall@K`` (DR-JL, primary), ``ndcg@K_autodebias``, ``recall@K_autodebias``, ``n_users``,
    ``n_users_with_pos``."""
    r = _per_user(users, items, y_true, score, k)
    out = {"auc": pooled_auc(y_true, score)}
    for conv, suffix in (("drjl", ""), ("autodebias", "_autodebias")):
        out[f"ndcg@{k}{suffix}"] = ndcg_at_k(users, items, y_true, score, k, conv)
        out[f"recall@{k}{suffix}"] = recall_at_k(users, items, y_true, score, k, conv)
    out["n_users"] = int(len(r["users"]))
    out["n_users_with_pos"] = int((r["n_pos"] > 0).sum())
    return out
