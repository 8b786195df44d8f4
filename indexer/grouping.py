"""Chunk hits -> document hits: people look for documents, the index stores chunks."""
from __future__ import annotations

from .results import DocumentHit, SearchResult


def group_by_document(hits: list[SearchResult], k: int, passages: int = 3) -> list[DocumentHit]:
    """The first ``k`` documents in hit order; each keeps its best hit and up to ``passages`` - 1 others.

    ``hits`` must be in rank order (best first), so a document's first hit is its best one.
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
