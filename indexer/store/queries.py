"""Queries over the metadata that search and the UI need: filters (path glob, file type), BM25 through FTS5,
rows by id in parameter-sized batches."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from sqlalchemy import select, text

from .schema import Chunk, Document
from ..sources.walk import glob_match

IN_BATCH = 900   # SQLite caps bound parameters per statement (999 in older builds)


def stored_span(start: int, text: str, n_chars: int) -> tuple[int, int]:
    """A chunk's (start, end) as read from the database, bounded by what is stored: ``text`` is the truth
    (end = start + its length) and ``start`` lies in [0, the document's characters]. A crafted ``end`` of
    5e9 made readers rebuilding a document from its chunks allocate that many characters."""
    start = min(max(int(start), 0), max(int(n_chars), 0))
    return start, start + len(text)


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
        raise TypeError("where must be None, a dict with 'path'/'type', or indexer.Where")


def allowed_chunk_ids(session, where: Where) -> list[int]:
    """Chunk ids of documents passing the filter (the glob runs in Python, over paths only)."""
    query = select(Document.id, Document.path)
    if where.types:
        query = query.where(Document.doc_type.in_(where.types))
    docs = [i for i, p in session.execute(query) if not where.path or glob_match(p, where.path)]
    return sorted(i for part in id_batches(docs) for i in session.scalars(select(Chunk.id).where(Chunk.document_id.in_(part))))


def id_batches(ids: Iterable[int]) -> Iterator[list[int]]:
    """``ids`` in parts of at most ``IN_BATCH``: the one way an ``IN (...)`` over an unbounded list of ids is
    written (``for part in id_batches(ids): ... .in_(part)``)."""
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), IN_BATCH):
        yield ids[start:start + IN_BATCH]


def fts_query(query: str) -> str:
    """User text -> an FTS5 expression that cannot be a syntax error: quoted terms joined by OR."""
    terms = re.findall(r"\w+", query.lower())
    return " OR ".join(f'"{t}"' for t in dict.fromkeys(terms))


def bm25_scored(session, query: str, limit: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
    """(chunk id, BM25 score) best first; the score is FTS5's ``bm25()`` negated, so higher is better."""
    expression = fts_query(query)
    if not expression:
        return []
    fetch = limit if allowed is None else limit * 20 + 1000
    rows = session.execute(text("SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH :q "
                                "ORDER BY bm25(chunks_fts), rowid LIMIT :n"), {"q": expression, "n": fetch}).all()
    return [(int(r[0]), -float(r[1])) for r in rows if allowed is None or r[0] in allowed][:limit]


def bm25(session, query: str, limit: int, allowed: set[int] | None = None) -> list[int]:
    """Chunk ids ranked by BM25 (best first)."""
    return [chunk_id for chunk_id, _ in bm25_scored(session, query, limit, allowed)]
