"""Metric implementations on hand-made cases with textbook answers, and against scikit-learn/scipy."""
import math

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, v_measure_score

from adaptation.evaluation import metrics


def test_perfect_ranking_has_ndcg_one():
    judged = {"a": 2, "b": 1, "c": 1}
    assert metrics.ndcg_at_k(["a", "b", "c", "x", "y"], judged) == pytest.approx(1.0)
    assert metrics.mrr_at_k(["a", "b", "c"], judged) == 1.0
    assert metrics.recall_at_k(["a", "b", "c"], judged) == 1.0


def test_known_permutation_gives_textbook_ndcg():
    # grades 3,2,3,0,1,2 in ranked order (the Wikipedia DCG example); ideal order 3,3,2,2,1,0
    ranked = ["d1", "d2", "d3", "d4", "d5", "d6"]
    judged = {"d1": 3, "d2": 2, "d3": 3, "d4": 0, "d5": 1, "d6": 2}
    dcg = sum(rel / math.log2(i + 2) for i, rel in enumerate([3, 2, 3, 0, 1, 2]))
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate([3, 3, 2, 2, 1, 0]))
    assert dcg == pytest.approx(6.861, abs=1e-3)  # the textbook value of this example (linear gain)
    assert metrics.ndcg_at_k(ranked, judged, k=6) == pytest.approx(dcg / idcg)
    assert metrics.ndcg_at_k(ranked, judged, k=6) == pytest.approx(0.9608, abs=1e-4)


def test_ndcg_cut_uses_all_judged_documents_for_the_ideal():
    # one relevant document found at rank 2, a second one never retrieved
    judged = {"r1": 1, "r2": 1}
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert metrics.ndcg_at_k(["x", "r1", "y"], judged, k=10) == pytest.approx(expected)
    assert metrics.ndcg_at_k(["x"] * 10 + ["r1"], judged, k=10) == 0.0  # beyond the cut


def test_mrr_and_recall_cutoffs():
    judged = {"r": 1, "s": 1, "z": 0}
    assert metrics.mrr_at_k(["z", "a", "r"], judged, k=10) == pytest.approx(1 / 3)  # grade 0 is not relevant
    assert metrics.mrr_at_k(["a"] * 10 + ["r"], judged, k=10) == 0.0
    assert metrics.recall_at_k(["r", "x"], judged, k=100) == 0.5
    assert metrics.recall_at_k(["x", "r", "s"], judged, k=2) == 0.5


def test_ranking_metrics_average_over_judged_queries_only():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}  # q3 has no relevant doc: not evaluated
    run = {"q1": ["a", "b"], "q2": ["a", "b"], "q3": ["c"]}
    scores = metrics.ranking_metrics(run, qrels)
    assert scores["mrr@10"] == pytest.approx((1 + 0.5) / 2)
    assert scores["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert scores["recall@100"] == 1.0


def test_spearman_textbook_and_ties_match_scipy():
    # d = rank differences 0,0,... -> rho = 1 - 6*sum(d^2)/(n(n^2-1)) for a swapped pair
    a, b = [1, 2, 3, 4, 5], [1, 2, 3, 5, 4]
    assert metrics.spearman(a, b) == pytest.approx(1 - 6 * 2 / (5 * 24))
    assert metrics.spearman(a, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    for _ in range(10):
        gold = rng.integers(0, 6, 40).astype(float)  # STS gold scores tie a lot
        pred = rng.normal(size=40)
        assert metrics.spearman(pred, gold) == pytest.approx(spearmanr(pred, gold).statistic)
        assert metrics.pearson(pred, gold) == pytest.approx(pearsonr(pred, gold).statistic)
    assert list(metrics.rankdata([10, 20, 20, 30])) == [1.0, 2.5, 2.5, 4.0]


def test_pearson_of_constant_is_nan():
    assert math.isnan(metrics.pearson([1, 1, 1], [1, 2, 3]))


def test_accuracy_and_macro_f1_against_sklearn():
    y_true = ["a", "a", "b", "b", "c", "c"]
    y_pred = ["a", "b", "b", "b", "a", "c"]
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    # per class F1: a = 2*1/(2+1+1) = .5, b = 2*2/(4+1+0) = .8, c = 2*1/(2+0+1) = 2/3
    assert metrics.macro_f1(y_true, y_pred) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    rng = np.random.default_rng(1)
    for _ in range(10):
        t, p = rng.integers(0, 5, 60), rng.integers(0, 6, 60)
        assert metrics.macro_f1(t, p) == pytest.approx(f1_score(t, p, average="macro"))


def test_v_measure_cases_and_sklearn():
    assert metrics.v_measure([0, 0, 1, 1], [5, 5, 7, 7]) == pytest.approx(1.0)  # same partition, other names
    assert metrics.v_measure([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0)  # independent
    # homogeneous but incomplete: h = 1, c = 1 - H(K|C)/H(K) = 1 - log2/log4 = .5 -> v = 2*.5/1.5
    assert metrics.v_measure([0, 0, 1, 1], [0, 1, 2, 3]) == pytest.approx(2 / 3)
    rng = np.random.default_rng(2)
    for _ in range(10):
        t, p = rng.integers(0, 4, 50), rng.integers(0, 7, 50)
        assert metrics.v_measure(t, p) == pytest.approx(v_measure_score(t, p))


def test_cosine_pairs():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 0.0], [-1.0, -1.0]])
    assert metrics.cosine_pairs(a, b) == pytest.approx([1.0, -1.0])
