"""From ranked ids to what people see: fusing dense and lexical rankings, and chunk hits into document hits."""
from __future__ import annotations

from itertools import repeat
from typing import Iterable, Sequence

from .results import DocumentHit, SearchResult

RRF_K = 60


def rrf(rankings: Iterable[list[int]], k: int = RRF_K,
        weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: sum over rankings of weight / (k + rank) (weights default to 1).

    Ranks, not scores, are fused: cosine similarities and BM25 scores live on unrelated scales.
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
