"""Metrics: hand-computed values, fairlearn / sklearn cross-checks, NaN-with-warning edge cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from fairbench.metrics import METRICS
from fairbench.metrics import classification as C
from fairbench.metrics import fairness as F
from fairbench.metrics import mia as M
from fairbench.metrics import ranking as R
from fairbench.metrics import unlearning as U

SEEDS = [0, 1, 2, 3, 4]


def _nan_with_warning(fn, *args, **kwargs):
    with pytest.warns(RuntimeWarning):
        v = fn(*args, **kwargs)
    assert isinstance(v, float) and math.isnan(v)


def _no_warning(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------------------------------
# registry


def test_registered_metrics_have_docstrings_and_orientation():
    expected = {
        "accuracy", "expected_accuracy", "roc_auc", "mse", "balanced_accuracy",
        "demographic_parity_difference", "demographic_parity_difference_abs", "disparate_impact",
        "equal_opportunity_difference", "average_abs_odds_difference", "equalized_odds_difference",
        "retain_accuracy", "forget_accuracy", "test_accuracy",
        "mia_auc_loss", "mia_svc_confidence_member_rate", "mia_svc_entropy_member_rate",
        "mia_lr_auc", "mia_lr_member_rate", "pooled_auc", "ndcg_at_k", "recall_at_k",
    }
    assert expected <= set(METRICS.names())
    for name in expected:
        info = METRICS.get(name)
        assert info.summary, name
    assert METRICS.get("demographic_parity_difference").signed
    assert METRICS.get("demographic_parity_difference").higher_is_better is None
    assert METRICS.get("average_abs_odds_difference").higher_is_better is False


# --------------------------------------------------------------------------------------------------
# classification


def test_accuracy_and_expected_accuracy():
    y = np.array([1, 0, 1, 1])
    assert C.accuracy(y, np.array([1, 1, 1, 0])) == 0.5
    p = np.array([0.9, 0.2, 0.5, 1.0])
    assert C.expected_accuracy(y, p) == pytest.approx((0.9 + 0.8 + 0.5 + 1.0) / 4)
    with pytest.raises(ValueError):
        C.expected_accuracy(y, np.array([0.1, 1.2, 0.3, 0.3]))
    with pytest.raises(ValueError):
        C.accuracy(y, y[:3])
    _nan_with_warning(C.accuracy, np.array([]), np.array([]))


@pytest.mark.parametrize("seed", SEEDS)
def test_roc_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    score = rng.integers(0, 10, 300).astype(float)  # many ties
    assert C.roc_auc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert R.pooled_auc(y, score) == pytest.approx(roc_auc_score(y, score))


def test_roc_auc_one_class_is_nan():
    _nan_with_warning(C.roc_auc, np.ones(5), np.arange(5.0))


@pytest.mark.parametrize("seed", SEEDS)
def test_balanced_accuracy_and_mse(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 200)
    yp = rng.integers(0, 3, 200)
    assert C.balanced_accuracy(y, yp) == pytest.approx(balanced_accuracy_score(y, yp))
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert C.mse(a, b) == pytest.approx(np.mean((a - b) ** 2))


# --------------------------------------------------------------------------------------------------
# fairness, cross-checked against fairlearn


def _random_binary(seed, n=400, groups=2):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, groups, n)
    y = rng.integers(0, 2, n)
    yp = (rng.random(n) < 0.3 + 0.2 * (s == 1)).astype(int)
    return y, yp, s


@pytest.mark.parametrize("seed", SEEDS)
def test_fairness_matches_fairlearn_two_groups(seed):
    from fairlearn.metrics import (MetricFrame, demographic_parity_difference, equalized_odds_difference,
                                   false_positive_rate, selection_rate, true_positive_rate)

    y, yp, s = _random_binary(seed)
    mf = MetricFrame(metrics={"tpr": true_positive_rate, "fpr": false_positive_rate, "sr": selection_rate},
                     y_true=y, y_pred=yp, sensitive_features=s)
    g = mf.by_group
    assert F.demographic_parity_difference_abs(y, yp, s) == pytest.approx(
        demographic_parity_difference(y, yp, sensitive_features=s))
    assert F.equalized_odds_difference(y, yp, s) == pytest.approx(
        equalized_odds_difference(y, yp, sensitive_features=s))
    assert F.demographic_parity_difference(y, yp, s, privileged=1) == pytest.approx(g.loc[0, "sr"] - g.loc[1, "sr"])
    assert F.disparate_impact(y, yp, s, privileged=1) == pytest.approx(g.loc[0, "sr"] / g.loc[1, "sr"])
    assert F.equal_opportunity_difference(y, yp, s, privileged=1) == pytest.approx(g.loc[0, "tpr"] - g.loc[1, "tpr"])
    assert F.average_abs_odds_difference(y, yp, s, privileged=1) == pytest.approx(
        0.5 * (abs(g.loc[0, "fpr"] - g.loc[1, "fpr"]) + abs(g.loc[0, "tpr"] - g.loc[1, "tpr"])))
    # direction flips with the privileged code
    assert F.demographic_parity_difference(y, yp, s, privileged=0) == pytest.approx(
        -F.demographic_parity_difference(y, yp, s, privileged=1))
    assert F.subgroup_accuracy(y, yp, s, group=0) == pytest.approx(np.mean(y[s == 0] == yp[s == 0]))


@pytest.mark.parametrize("seed", SEEDS)
def test_fairness_matches_fairlearn_three_groups(seed):
    from fairlearn.metrics import MetricFrame, demographic_parity_difference, equalized_odds_difference, \
        selection_rate

    y, yp, s = _random_binary(seed, groups=3)
    assert F.demographic_parity_difference_abs(y, yp, s) == pytest.approx(
        demographic_parity_difference(y, yp, sensitive_features=s))
    assert F.equalized_odds_difference(y, yp, s) == pytest.approx(
        equalized_odds_difference(y, yp, sensitive_features=s))
    # signed DP pools the non-privileged groups
    sr_u = selection_rate(y[s != 2], yp[s != 2])
    sr_p = selection_rate(y[s == 2], yp[s == 2])
    assert F.demographic_parity_difference(y, yp, s, privileged=2) == pytest.approx(sr_u - sr_p)
    assert MetricFrame  # imported for symmetry


def test_fairness_nan_with_warning_when_group_has_no_positives():
    y = np.array([0, 0, 0, 1, 1, 0])
    yp = np.array([1, 0, 1, 1, 0, 0])
    s = np.array([0, 0, 0, 1, 1, 1])  # group 0 has no positives -> TPR_0 undefined
    _nan_with_warning(F.equal_opportunity_difference, y, yp, s, privileged=1)
    _nan_with_warning(F.average_abs_odds_difference, y, yp, s, privileged=1)
    _nan_with_warning(F.equalized_odds_difference, y, yp, s)
    # selection-rate metrics stay defined
    assert _no_warning(F.demographic_parity_difference, y, yp, s, privileged=1) == pytest.approx(2 / 3 - 1 / 3)


def test_fairness_nan_with_warning_on_empty_group_and_zero_rate():
    y = np.array([0, 1, 0, 1])
    yp = np.array([1, 0, 0, 0])
    s = np.array([0, 0, 1, 1])  # privileged (1) selection rate is 0
    _nan_with_warning(F.disparate_impact, y, yp, s, privileged=1)
    assert F.disparate_impact(y, yp, s, privileged=0) == 0.0
    only = np.ones(4, dtype=int)
    _nan_with_warning(F.demographic_parity_difference, y, yp, only, privileged=1)
    _nan_with_warning(F.demographic_parity_difference_abs, y, yp, only)
    _nan_with_warning(F.subgroup_accuracy, y, yp, s, group=7)
    with pytest.raises(ValueError):
        F.demographic_parity_difference(y, yp, s[:3])
    with pytest.raises(ValueError):
        F.equal_opportunity_difference(y, np.array([0.2, 0.3, 1, 0]), s)  # not hard predictions


def test_multiclass_gaps_by_hand():
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    yp = np.array([0, 1, 1, 1, 0, 0, 0, 1])
    s = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    # P(yhat=0|g): g0 1/4, g1 3/4 ; P(yhat=1|g): 3/4, 1/4 -> mean gap 1/2
    assert F.mean_class_dp_gap(y, yp, s) == pytest.approx(0.5)
    # TPR_0: g0 1/2, g1 1 ; TPR_1: g0 1, g1 1/2 -> mean gap 1/2
    assert F.mean_class_tpr_gap(y, yp, s) == pytest.approx(0.5)
    assert F.accuracy_gap(y, yp, s) == pytest.approx(0.0)
    assert F.percent_drop(0.2, 0.1) == pytest.approx(50.0)
    _nan_with_warning(F.percent_drop, 0.0, 0.1)


# --------------------------------------------------------------------------------------------------
# unlearning


def test_unlearning_accuracies():
    assert U.retain_accuracy([1, 0], [1, 0]) == 1.0
    assert U.forget_accuracy([1, 0], [0, 0]) == 0.5
    assert U.test_accuracy([1, 1, 1, 0], [1, 1, 1, 1]) == 0.75
    assert U.unlearning_accuracies([1], [1], [0], [1], [1, 0], [1, 0]) == {
        "retain_accuracy": 0.0, "forget_accuracy": 1.0, "test_accuracy": 1.0}
    assert U.l2_to_retrain(np.array([3.0, 0.0]), np.array([0.0, 4.0])) == pytest.approx(5.0)
    _nan_with_warning(U.forget_accuracy, [], [])


# --------------------------------------------------------------------------------------------------
# MIA


def _probs_with_confidence(rng, conf, y, n_classes):
    """Rows whose true-label probability is ``conf``, the rest spread at random."""
    n = len(y)
    rest = rng.dirichlet(np.ones(n_classes - 1), size=n) * (1 - conf)[:, None]
    p = np.empty((n, n_classes))
    for i in range(n):
        p[i, np.arange(n_classes) != y[i]] = rest[i]
        p[i, y[i]] = conf[i]
    return p


def _mia_sets(seed, memorised, n=600, n_classes=10):
    rng = np.random.default_rng(seed)
    out = []
    for role, size in (("forget", n // 3), ("retain", n), ("test", n)):
        y = rng.integers(0, n_classes, size)
        if memorised and role != "test":
            conf = rng.uniform(0.9, 1.0, size)
        else:
            conf = rng.uniform(0.2, 0.7, size) if memorised else rng.uniform(0.1, 1.0, size)
        out += [_probs_with_confidence(rng, conf, y, n_classes), y]
    return out


def test_mia_detects_memorisation():
    sets = _mia_sets(0, memorised=True)
    lr = M.mia_loss_entropy_lr(*sets, seed=0)
    assert lr["auc"] > 0.9 and lr["accuracy"] > 0.8 and lr["member_rate"] > 0.9
    assert lr["n_train"] == lr["n_eval"] == 600 and lr["n_forget"] == 200 and lr["seed"] == 0
    for preset in (M.svc_confidence_member_rate, M.svc_entropy_member_rate):
        r = preset(*sets, seed=0)
        assert r["member_rate"] > 0.9
        assert r["efficacy"] == pytest.approx(1 - r["member_rate"])
        assert r["n_shadow_members"] == r["n_shadow_nonmembers"] == 600
    a = M.auc_loss(*sets, seed=0)
    assert a["auc"] > 0.9 and a["n"] == 200  # AUC above 0.5 means member-like (low loss)
    assert M.mia_auc_loss(*sets, seed=0) == a["auc"]
    assert M.mia_svc_confidence_member_rate(*sets, seed=0) > 0.9


def test_mia_chance_on_identical_distributions():
    sets = _mia_sets(1, memorised=False, n=3000)
    lr = M.mia_loss_entropy_lr(*sets, seed=1)
    assert abs(lr["auc"] - 0.5) < 0.06
    assert abs(M.auc_loss(*sets, seed=1)["auc"] - 0.5) < 0.08


def test_mia_forget_looks_like_test_after_forgetting():
    # forget rows behave like non-members: low member rate, AUC below chance-ish
    rng = np.random.default_rng(3)
    pf, yf, pr, yr, pt, yt = _mia_sets(3, memorised=True)
    pf = _probs_with_confidence(rng, rng.uniform(0.2, 0.7, len(yf)), yf, 10)
    assert M.svc_confidence_member_rate(pf, yf, pr, yr, pt, yt, seed=0)["member_rate"] < 0.1
    assert abs(M.auc_loss(pf, yf, pr, yr, pt, yt, seed=0)["auc"] - 0.5) < 0.1


def test_mia_deterministic_by_seed_and_binary_input():
    sets = _mia_sets(2, memorised=True)
    assert M.mia_loss_entropy_lr(*sets, seed=5) == M.mia_loss_entropy_lr(*sets, seed=5)
    assert M.auc_loss(*sets, seed=5) == M.auc_loss(*sets, seed=5)
    rng = np.random.default_rng(0)
    p1 = rng.random(50)
    y = rng.integers(0, 2, 50)
    r = M.auc_loss(p1, y, p1, y, rng.random(50), y, seed=0)
    assert 0 <= r["auc"] <= 1
    assert np.allclose(M.confidence(p1, y), np.where(y == 1, p1, 1 - p1))
    assert np.allclose(M.entropy(np.array([[1.0, 0.0], [0.5, 0.5]])), [0.0, math.log(2)])


def test_mia_errors_and_nan():
    sets = _mia_sets(0, memorised=True, n=30)
    with pytest.raises(ValueError):
        M.auc_loss(sets[0], sets[1][:-1], *sets[2:])
    bad = sets[1].copy()
    bad[0] = 10
    with pytest.raises(ValueError):
        M.auc_loss(sets[0], bad, *sets[2:])
    from fairbench.core.errors import FairbenchError
    with pytest.raises(FairbenchError):
        M.run_mia("nope", *sets)
    assert M.run_mia("auc_loss", *sets, seed=0)["preset"] == "auc_loss"
    empty_p, empty_y = np.zeros((0, 10)), np.zeros(0, dtype=int)
    with pytest.warns(RuntimeWarning):
        r = M.auc_loss(empty_p, empty_y, *sets[2:], seed=0)
    assert math.isnan(r["auc"])
    with pytest.warns(RuntimeWarning):
        r = M.svc_confidence_member_rate(empty_p, empty_y, *sets[2:], seed=0)
    assert math.isnan(r["member_rate"])


# --------------------------------------------------------------------------------------------------
# ranking (ultd.md section 4.2)

L2 = math.log2


def _toy_ranking():
    rows = [
        # user, item, y, score
        (1, 10, 0, 0.9), (1, 11, 1, 0.8), (1, 12, 1, 0.8), (1, 13, 0, 0.1),  # tie 11/12 -> 11 first
        (2, 7, 1, 0.2),  # fewer than K items
        (3, 1, 0, 0.5), (3, 2, 0, 0.4),  # no positives
        (4, 22, 0, 0.9), (4, 20, 0, 0.5), (4, 21, 1, 0.5),  # tie 20/21 -> 20 first: no hit in top 2
    ]
    a = np.array(rows)
    return a[:, 0].astype(int), a[:, 1].astype(int), a[:, 2].astype(int), a[:, 3]


def test_ranking_hand_computed_k2():
    users, items, y, score = _toy_ranking()
    u1 = (1 / L2(3)) / (1 + 1 / L2(3))
    assert R.ndcg_at_k(users, items, y, score, 2, "drjl") == pytest.approx((u1 + 1 + 1 + 0) / 4)
    assert R.ndcg_at_k(users, items, y, score, 2, "autodebias") == pytest.approx((u1 + 1 + 0) / 3)
    assert R.recall_at_k(users, items, y, score, 2, "drjl") == pytest.approx((0.5 + 1 + 0 + 0) / 4)
    assert R.recall_at_k(users, items, y, score, 2, "autodebias") == pytest.approx((0.5 + 1 + 0) / 3)
    uid, vals = R.ndcg_per_user(users, items, y, score, 2, "drjl")
    assert uid.tolist() == [1, 2, 3, 4] and vals[2] == 1.0
    # row order does not matter
    perm = np.random.default_rng(0).permutation(len(y))
    assert R.ndcg_at_k(users[perm], items[perm], y[perm], score[perm], 2) == pytest.approx((u1 + 2) / 4)


def test_ranking_hand_computed_k3_short_lists():
    users, items, y, score = _toy_ranking()
    # K=3: user 1 top3 = 10, 11, 12 -> hits at 2,3; user 2 list of length 1; user 4 top3 = 22, 20, 21
    u1 = (1 / L2(3) + 1 / L2(4)) / (1 + 1 / L2(3))
    u4 = (1 / L2(4)) / 1.0
    assert R.ndcg_at_k(users, items, y, score, 3) == pytest.approx((u1 + 1 + 1 + u4) / 4)
    assert R.recall_at_k(users, items, y, score, 3, "autodebias") == pytest.approx((1 + 1 + 1) / 3)
    # K larger than every list: recall is 1 for users with positives
    assert R.recall_at_k(users, items, y, score, 50, "drjl") == pytest.approx(3 / 4)


def _reference(users, items, y, score, k, convention):
    nd, rc = [], []
    for u in np.unique(users):
        m = users == u
        order = sorted(range(m.sum()), key=lambda j: (-score[m][j], items[m][j]))
        rel = y[m][order]
        npos = rel.sum()
        if npos == 0 and convention == "autodebias":
            continue
        dcg = sum(rel[j] / L2(j + 2) for j in range(min(k, len(rel))))
        idcg = sum(1 / L2(j + 2) for j in range(min(npos, k)))
        nd.append(dcg / idcg if npos else 1.0)
        rc.append(rel[:k].sum() / max(1, npos))
    return np.mean(nd), np.mean(rc)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("convention", ["drjl", "autodebias"])
def test_ranking_matches_reference_loop(seed, convention):
    rng = np.random.default_rng(seed)
    n = 400
    users = rng.integers(0, 40, n)
    items = rng.permutation(n)  # distinct items, ties only from scores
    y = (rng.random(n) < 0.15).astype(int)
    score = rng.integers(0, 5, n).astype(float)  # heavy ties
    nd, rc = _reference(users, items, y, score, 5, convention)
    assert R.ndcg_at_k(users, items, y, score, 5, convention) == pytest.approx(nd)
    assert R.recall_at_k(users, items, y, score, 5, convention) == pytest.approx(rc)


def test_ranking_edge_cases():
    users, items, y, score = _toy_ranking()
    zero = np.zeros_like(y)
    assert R.ndcg_at_k(users, items, zero, score, 2, "drjl") == 1.0
    _nan_with_warning(R.ndcg_at_k, users, items, zero, score, 2, "autodebias")
    _nan_with_warning(R.recall_at_k, users, items, zero, score, 2, "autodebias")
    with pytest.raises(ValueError):
        R.ndcg_at_k(users, items, y, score, 2, "other")
    with pytest.raises(ValueError):
        R.ndcg_at_k(users, items, y, score, 0)
    with pytest.raises(ValueError):
        R.recall_at_k(users[:-1], items, y, score, 2)
    rep = R.ranking_report(users, items, y, score, 2)
    assert rep["n_users"] == 4 and rep["n_users_with_pos"] == 3
    assert rep["ndcg@2"] == R.ndcg_at_k(users, items, y, score, 2)
    assert rep["recall@2_autodebias"] == R.recall_at_k(users, items, y, score, 2, "autodebias")
