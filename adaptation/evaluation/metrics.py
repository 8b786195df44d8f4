"""Evaluation metrics in plain numpy, with the conventions MTEB/BEIR use.

Kept free of model code so each formula can be checked on hand-made cases.
Ranking metrics follow trec_eval (as pytrec_eval, which BEIR and MTEB call):
nDCG@k with *linear* gain ``rel / log2(rank + 1)``, ideal DCG from all judged
documents; MRR@k is 1/rank of the first relevant (rel >= 1) hit within k;
recall@k is the share of relevant documents found in the top k.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from adaptation.numeric import unit_rows


# ---------------------------------------------------------------- correlation
def rankdata(values: Sequence[float]) -> np.ndarray:
    """Ranks starting at 1; ties get the mean of the ranks they span (as scipy's 'average')."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    start = 0
    while start < len(x):
        end = start
        while end + 1 < len(x) and sorted_x[end + 1] == sorted_x[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson correlation; NaN when either side is constant (undefined)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("pearson needs two sequences of the same length >= 2")
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman correlation = Pearson of the tie-averaged ranks (STS gold scores have many ties)."""
    return pearson(rankdata(a), rankdata(b))


def cosine_pairs(a, b) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) arrays."""
    return (unit_rows(a) * unit_rows(b)).sum(axis=1)


# ---------------------------------------------------------------- ranking
Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Sequence[str]]  # query id -> doc ids, best first


def dcg(gains: Sequence[float]) -> float:
    """Sum of gain / log2(rank + 1), rank starting at 1 (trec_eval's linear-gain DCG)."""
    g = np.asarray(gains, dtype=np.float64)
    return float((g / np.log2(np.arange(2, len(g) + 2))).sum()) if len(g) else 0.0


def ndcg_at_k(ranked: Sequence[str], judgements: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k of one ranking against graded judgements (unjudged = 0, negative grades count as 0)."""
    gains = [max(judgements.get(doc, 0), 0) for doc in ranked[:k]]
    ideal = sorted((max(r, 0) for r in judgements.values()), reverse=True)[:k]
    best = dcg(ideal)
    return dcg(gains) / best if best > 0 else 0.0


def mrr_at_k(ranked: Sequence[str], judgements: Mapping[str, int], k: int = 10) -> float:
    for rank, doc in enumerate(ranked[:k], start=1):
        if judgements.get(doc, 0) >= 1:
            return 1.0 / rank
    return 0.0


def recall_at_k(ranked: Sequence[str], judgements: Mapping[str, int], k: int = 100) -> float:
    relevant = {doc for doc, rel in judgements.items() if rel >= 1}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def ranking_metrics(run: Run, qrels: Qrels, ndcg_k: int = 10, mrr_k: int = 10,
                    recall_k: int = 100) -> dict[str, float]:
    """Means over the queries that have at least one relevant judgement (as BEIR evaluates)."""
    queries = [q for q, judged in qrels.items() if any(r >= 1 for r in judged.values())]
    if not queries:
        raise ValueError("no query has a relevant judgement")
    per = {f"ndcg@{ndcg_k}": [], f"mrr@{mrr_k}": [], f"recall@{recall_k}": []}
    for q in queries:
        ranked = list(run.get(q, []))
        per[f"ndcg@{ndcg_k}"].append(ndcg_at_k(ranked, qrels[q], ndcg_k))
        per[f"mrr@{mrr_k}"].append(mrr_at_k(ranked, qrels[q], mrr_k))
        per[f"recall@{recall_k}"].append(recall_at_k(ranked, qrels[q], recall_k))
    return {name: float(np.mean(values)) for name, values in per.items()}


# ---------------------------------------------------------------- classification
def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    return float((t == p).mean())


def macro_f1(y_true: Sequence, y_pred: Sequence) -> float:
    """Unweighted mean of per-class F1 over the union of true and predicted labels (sklearn's 'macro')."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for label in np.union1d(t, p):
        tp = float(((t == label) & (p == label)).sum())
        fp = float(((t != label) & (p == label)).sum())
        fn = float(((t == label) & (p != label)).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0)
    return float(np.mean(scores))


# ---------------------------------------------------------------- clustering
def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def v_measure(labels_true: Sequence, labels_pred: Sequence, beta: float = 1.0) -> float:
    """Harmonic mean of homogeneity and completeness (Rosenberg & Hirschberg 2007)."""
    _, t = np.unique(np.asarray(labels_true), return_inverse=True)
    _, p = np.unique(np.asarray(labels_pred), return_inverse=True)
    table = np.zeros((t.max() + 1, p.max() + 1))
    np.add.at(table, (t, p), 1)
    n = table.sum()
    h_c, h_k = _entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))
    col, row = np.broadcast_to(table.sum(axis=0), table.shape), np.broadcast_to(table.sum(axis=1)[:, None], table.shape)
    nz = table > 0
    h_c_given_k = -float((table[nz] / n * np.log(table[nz] / col[nz])).sum())  # H(C|K)
    h_k_given_c = -float((table[nz] / n * np.log(table[nz] / row[nz])).sum())  # H(K|C)
    homogeneity = 1.0 if h_c == 0 else 1.0 - h_c_given_k / h_c
    completeness = 1.0 if h_k == 0 else 1.0 - h_k_given_c / h_k
    if homogeneity + completeness == 0:
        return 0.0
    return float((1 + beta) * homogeneity * completeness / (beta * homogeneity + completeness))
