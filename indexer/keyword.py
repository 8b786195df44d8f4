"""Keyword search: BM25 through the index's SQLite FTS5 table, with no encoder loaded.

Loading a model takes seconds to minutes; a search for exact words (a name, an error message) does not need
one. ``l2v search --keyword`` and a hybrid search with dense weight 0 (whose dense ranking would count for
nothing) run here. A hit's score is the one hybrid search with dense weight 0 gives it: its BM25 score min-max
scaled over the same ``max(k, FUSION_DEPTH)`` candidates, so the two rank alike and their scores compare.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from .errors import UsageError
from .query import EMPTY_QUERY, blank_query
from .ranking import FUSION_DEPTH, group_by_document, min_max
from .results import DocumentHit, SearchResult
from .store.queries import Where, allowed_chunk_ids, bm25_scored, id_batches
from .store.schema import Chunk, Document

KEYWORD_ENCODER = "bm25"   # what a keyword hit names as its encoder: no model ranked it


def keyword_search(idx, query: str, k: int = 10, where: Any = None) -> list[SearchResult]:
    """The top-k chunks of ``idx`` (an ``Index``) by BM25; one read transaction, so rows match the ranking."""
    if k < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    if blank_query(query):     # "?!..." too: the same rule as Index.search
        raise UsageError(EMPTY_QUERY)
    where = Where.of(where)
    with idx.Session() as s:
        allowed = set(allowed_chunk_ids(s, where)) if where else None
        scored = bm25_scored(s, query, max(k, FUSION_DEPTH), allowed)
        scaled = min_max(scored)
        ranked = [chunk_id for chunk_id, _ in scored[:k]]
        rows_query = select(Chunk, Document).join(Document, Document.id == Chunk.document_id)
        rows = {c.id: (c, d) for part in id_batches(ranked) for c, d in s.execute(rows_query.where(Chunk.id.in_(part)))}
    out: list[SearchResult] = []
    for chunk_id in ranked:
        if chunk_id in rows:
            c, d = rows[chunk_id]
            rank = len(out) + 1
            out.append(SearchResult(c.id, d.id, d.path, d.title, d.doc_type, c.text, c.start, c.end,
                                    scaled[chunk_id], rank, KEYWORD_ENCODER, None, rank))
    return out


def keyword_documents(idx, query: str, k: int = 10, where: Any = None, passages: int = 3) -> list[DocumentHit]:
    """The top-k documents by their best BM25 chunk, fetching deeper until k documents or no more matches."""
    if k < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    depth = max(4 * k, 20)
    while True:
        hits = keyword_search(idx, query, depth, where)
        documents = group_by_document(hits, k, passages)
        if len(documents) >= k or len(hits) < depth:
            return documents
        depth *= 4
