"""From ranked ids to what people see: fusing dense and lexical rankings, and chunk hits into document hits."""
from __future__ import annotations

from itertools import repeat
from typing import Iterable, Sequence

from .results import DocumentHit, SearchResult

RRF_K = 60
FUSION_DEPTH = 50   # candidates each ranking contributes to a hybrid search (more when k is larger)


def min_max(scored: Sequence[tuple[int, float]]) -> dict[int, float]:
    """Scores rescaled to [0, 1] over this candidate list: best 1, worst 0 (all 1 when they are equal)."""
    if not scored:
        return {}
    low, high = min(v for _, v in scored), max(v for _, v in scored)
    return {item: (value - low) / (high - low) if high > low else 1.0 for item, value in scored}


def convex_fusion(dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]],
                  dense_weight: float) -> list[tuple[int, float]]:
    """Hybrid search's fusion: ``dense_weight`` x the min-max-scaled cosine + the rest x the scaled BM25 score.

    Each list is (id, score) best first; a candidate missing from one list counts 0 there. Scores, not ranks,
    are fused (a "relative score fusion"): on SciFact's train-split dev sample with the 135M default, reciprocal
    rank fusion at any weight fell 5-20 nDCG@10 points *under* BM25 alone (RRF's 1/(60 + rank) flattens BM25's
    confident first hit into a near-tie that a weak dense ranking overturns), while this fusion at 0.3 beat BM25
    by 3.5 (BENCHMARKS.md). Ties keep the order of the ranking with the larger weight.
    """
    dense_scaled, lexical_scaled = min_max(dense), min_max(lexical)
    first, second = (dense, lexical) if dense_weight >= 0.5 else (lexical, dense)
    order: dict[int, int] = {}
    for n, (item, _) in enumerate([*first, *second]):
        order.setdefault(item, n)
    fused = {item: dense_weight * dense_scaled.get(item, 0.0) + (1.0 - dense_weight) * lexical_scaled.get(item, 0.0)
             for item in order}
    return sorted(fused.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def rrf(rankings: Iterable[list[int]], k: int = RRF_K,
        weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: sum over rankings of weight / (k + rank) (weights default to 1).

    Hybrid search used it until its weakness above was measured; kept for ``bench/bench_hybrid.py``'s comparison
    and for library users who fuse rankings without scores.
    """
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, repeat(1.0) if weights is None else weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def group_by_document(hits: list[SearchResult], k: int, passages: int = 3) -> list[DocumentHit]:
    """The first ``k`` documents in hit order; each keeps its best hit and up to ``passages`` - 1 others.

    People look for documents, the index stores chunks. ``hits`` must be in rank order (best first),
    so a document's first hit is its best one.
    """
    documents: dict[int, DocumentHit] = {}
    for hit in hits:
        found = documents.get(hit.document_id)
        if found is None:
            if len(documents) < k:
                documents[hit.document_id] = DocumentHit(hit.document_id, hit.path, hit.title, hit.doc_type,
                                                         hit.score, len(documents) + 1, hit.encoder, hit)
        elif len(found.passages) < passages - 1:
            found.passages.append(hit)
    return list(documents.values())
