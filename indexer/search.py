"""Search helpers: filters (path glob, file type), BM25 through FTS5, reciprocal rank fusion."""
from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import repeat
from typing import Iterable, Sequence

from sqlalchemy import select, text

from .schema import Chunk, Document
from .sources import glob_match

RRF_K = 60


@dataclass(frozen=True)
class Where:
    """Restrict results: ``path`` is a glob over relative paths ('docs/**', '*.md'); ``types`` are extensions."""

    path: str | None = None
    types: tuple[str, ...] = ()

    @classmethod
    def of(cls, where) -> "Where | None":
        if where is None or isinstance(where, Where):
            return where if (where is None or where.path or where.types) else None
        if isinstance(where, dict):
            types = where.get("type") or where.get("types") or ()
            types = (types,) if isinstance(types, str) else tuple(types)
            return cls.of(cls(path=where.get("path"), types=tuple(t.lower().lstrip(".") for t in types)))
        raise TypeError("where must be None, a dict with 'path'/'type', or indexer.search.Where")


def allowed_chunk_ids(session, where: Where) -> list[int]:
    """Chunk ids of documents passing the filter (the glob runs in Python, over paths only)."""
    query = select(Document.id, Document.path)
    if where.types:
        query = query.where(Document.doc_type.in_(where.types))
    docs = [i for i, p in session.execute(query) if not where.path or glob_match(p, where.path)]
    ids: list[int] = []
    for start in range(0, len(docs), 900):
        ids += session.scalars(select(Chunk.id).where(Chunk.document_id.in_(docs[start:start + 900]))).all()
    return sorted(ids)


def fts_query(query: str) -> str:
    """User text -> an FTS5 expression that cannot be a syntax error: quoted terms joined by OR."""
    terms = re.findall(r"\w+", query.lower())
    return " OR ".join(f'"{t}"' for t in dict.fromkeys(terms))


def bm25(session, query: str, limit: int, allowed: set[int] | None = None) -> list[int]:
    """Chunk ids ranked by BM25 (best first)."""
    expression = fts_query(query)
    if not expression:
        return []
    fetch = limit if allowed is None else limit * 20 + 1000
    rows = session.execute(text("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH :q ORDER BY bm25(chunks_fts) "
                                "LIMIT :n"), {"q": expression, "n": fetch}).all()
    ids = [r[0] for r in rows if allowed is None or r[0] in allowed]
    return ids[:limit]


def rrf(rankings: Iterable[list[int]], k: int = RRF_K,
        weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: sum over rankings of weight / (k + rank) (weights default to 1)."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, repeat(1.0) if weights is None else weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
