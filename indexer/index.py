"""``Index``: read side of a database directory (search, listings, status, consistency).

Readers never take the writer lock: SQLite runs in WAL mode and every FAISS
generation is a separate, atomically written file, so an update in progress is
invisible until it commits. Each search re-reads the live generation (one tiny
query) and reloads the FAISS file when a writer committed a new one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

from adaptation.config import check_dense_weight
from adaptation.errors import L2VError
from adaptation.numeric import unit_rows

from .embedding import Embedder, LazyEmbedder, fingerprint_matches
from .errors import EncoderMismatchError, FaissFileError, UsageError
from .query import EMPTY_QUERY, blank_query
from .ranking import FUSION_DEPTH, convex_fusion, group_by_document
from .results import ChunkInfo, DocumentHit, DocumentInfo, EncoderInfo, IndexStatus, RunInfo, SearchResult, SkippedInfo
from .sources import glob_match
from .store.database import get_setting, make_engine, session_factory, sqlite_path, writer_alive
from .store.layout import faiss_path
from .store.queries import Where, allowed_chunk_ids, bm25_scored, id_batches, stored_span
from .store.schema import Chunk, Document, EncoderRow, Membership, Run, Skipped
from .vectors import StoredVectors, VectorStore


class Index:
    def __init__(self, path: Path):
        self.path = Path(path).expanduser().resolve()
        self.engine = make_engine(self.path)
        self._identity = _file_identity(sqlite_path(self.path))
        self.Session = session_factory(self.engine)
        self._stores: dict[int, tuple[int, VectorStore]] = {}   # encoder id -> (generation, store)
        self._embedders: dict[str, Embedder] = {}

    @classmethod
    def open(cls, path: str | Path) -> "Index":
        return cls(Path(path))

    def close(self) -> None:
        self.engine.dispose()

    def replaced(self) -> bool:
        """True once ``l2v index --rebuild`` (or anyone) put a new database file at this path.

        Open connections keep reading the old, unlinked file, so a long-lived reader (the UI)
        asks this and reopens instead of serving the old index for ever.
        """
        return _file_identity(sqlite_path(self.path)) != self._identity

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- listings
    @property
    def root(self) -> str:
        with self.Session() as s:
            return get_setting(s, "root", "") or ""

    def encoders(self) -> list[EncoderInfo]:
        with self.Session() as s:
            n_chunks = s.scalar(select(func.count(Chunk.id)))
            counts = dict(s.execute(select(Membership.encoder_id, func.count()).group_by(Membership.encoder_id)).all())
            return [EncoderInfo(r.id, r.name, r.fingerprint, r.dim, r.factory, r.source, r.generation,
                                counts.get(r.id, 0), n_chunks - counts.get(r.id, 0), json.loads(r.config or "{}"))
                    for r in s.scalars(select(EncoderRow).order_by(EncoderRow.id))]

    def documents(self, limit: int | None = None, offset: int = 0, where: Any = None) -> list[DocumentInfo]:
        where = Where.of(where)
        with self.Session() as s:
            query = _with_chunk_counts().order_by(Document.path)
            if where and where.types:
                query = query.where(Document.doc_type.in_(where.types))
            out = [_document_info(d, c) for d, c in s.execute(query)]
        if where and where.path:
            out = [d for d in out if glob_match(d.path, where.path)]
        return out[offset:None if limit is None else offset + limit]

    def document(self, key: int | str) -> DocumentInfo | None:
        """One document by id or by relative path (None if absent)."""
        with self.Session() as s:
            doc = s.get(Document, key) if isinstance(key, int) else s.scalar(select(Document).where(Document.path == key))
            if doc is None:
                return None
            n = s.scalar(select(func.count(Chunk.id)).where(Chunk.document_id == doc.id))
            return _document_info(doc, n)

    def documents_by_id(self, ids: list[int]) -> dict[int, DocumentInfo]:
        """id -> document for the ids still in the index (any number of ids; missing ones are left out)."""
        out: dict[int, DocumentInfo] = {}
        with self.Session() as s:
            for part in id_batches(sorted(set(ids))):
                found = s.execute(_with_chunk_counts(Chunk.document_id.in_(part)).where(Document.id.in_(part)))
                out.update((d.id, _document_info(d, c)) for d, c in found)
        return out

    def document_types(self) -> list[str]:
        """The file types (extensions) the index holds, sorted: the choices of a type filter."""
        with self.Session() as s:
            return sorted(t for t in s.scalars(select(Document.doc_type).distinct()) if t)

    def chunk_documents(self) -> dict[int, int]:
        """chunk id -> document id for every chunk (one query; for whole-collection views like clusters)."""
        with self.Session() as s:
            return {int(c): int(d) for c, d in s.execute(select(Chunk.id, Chunk.document_id))}

    def chunks(self, document_id: int | None = None, ids: list[int] | None = None) -> list[ChunkInfo]:
        """Chunks of one document (in order), or the chunks with ``ids`` (any number, in that order; missing
        ids dropped)."""
        query = select(Chunk, Document.path, Document.n_chars).join(Document, Document.id == Chunk.document_id)
        if document_id is not None:
            query = query.where(Chunk.document_id == document_id)
        query = query.order_by(Chunk.document_id, Chunk.ordinal)
        with self.Session() as s:
            found = s.execute(query) if ids is None else (
                row for part in id_batches(ids) for row in s.execute(query.where(Chunk.id.in_(part))))
            rows = {c.id: ChunkInfo(c.id, c.document_id, p, c.ordinal, *stored_span(c.start, c.text, n), c.n_tokens,
                                    c.text) for c, p, n in found}
        return [rows[int(i)] for i in ids if int(i) in rows] if ids is not None else list(rows.values())

    def skipped(self) -> list[SkippedInfo]:
        with self.Session() as s:
            return [SkippedInfo(r.path, r.reason, r.detail) for r in s.scalars(select(Skipped).order_by(Skipped.path))]

    def runs(self, limit: int = 20) -> list[RunInfo]:
        """Newest first. A "running" row whose process is gone (killed, or the newest run's writer is not
        alive) is reported "interrupted": it could not mark itself, and readers must not write."""
        with self.Session() as s:
            rows = list(s.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))
            newest = s.scalar(select(func.max(Run.id)))
        alive = any(r.status == "running" and r.id == newest for r in rows) and writer_alive(self.path)
        return [RunInfo(r.id, r.started_at, r.finished_at,
                        "interrupted" if r.status == "running" and not (alive and r.id == newest) else r.status,
                        r.encoders, r.docs_seen, r.docs_added, r.docs_changed, r.docs_deleted, r.docs_skipped,
                        r.chunks_added, r.chunks_removed, r.chunks_embedded) for r in rows]

    def status(self, check: bool = True) -> IndexStatus:
        with self.Session() as s:
            tokens, overlap = int(get_setting(s, "chunk_tokens", "0")), int(get_setting(s, "overlap", "0"))
            n_docs = s.scalar(select(func.count(Document.id)))
            n_chunks = s.scalar(select(func.count(Chunk.id)))
        runs = self.runs(1)
        return IndexStatus(str(self.path), self.root, tokens, overlap, n_docs, n_chunks, self.encoders(),
                           self.skipped(), runs[0] if runs else None, self.check_consistency() if check else [])

    # ---------------------------------------------------------------- vectors
    def _encoder_row(self, name: str | None, session=None) -> EncoderRow:
        """The row of encoder ``name`` (None: the first), read in ``session``'s snapshot when given."""
        if session is None:
            with self.Session() as s:
                return self._encoder_row(name, s)
        rows = list(session.scalars(select(EncoderRow).order_by(EncoderRow.id)))
        if not rows:
            raise UsageError(f"'{self.path}' has no encoder yet; run `l2v index FOLDER --db {self.path} --encoder ...`")
        if name is None:
            return rows[0]
        for row in rows:
            if row.name == name:
                return row
        raise UsageError(f"no encoder '{name}' in '{self.path}'; choose one of: {', '.join(r.name for r in rows)}")

    def vectors(self, encoder: str | None = None) -> VectorStore:
        """The live FAISS index of an encoder, reloaded when a writer committed a newer generation."""
        return self._snapshot(encoder, lambda s, row, store: store)

    def stored_vectors(self, encoder: str | None = None) -> StoredVectors:
        """Every stored vector of an encoder's live generation, read in blocks (for clustering and export);
        the caller sees ids and float32 rows, never FAISS."""
        return StoredVectors(self.vectors(encoder))

    def generation_stamp(self, encoder: str | None = None) -> str:
        """Changes whenever the encoder's vectors do (a new generation, or its file replaced): a cache key
        for anything computed from them."""
        row = self._encoder_row(encoder)
        stamp = "none"
        if row.generation:
            try:
                st = faiss_path(self.path, row.id, row.name, row.generation).stat()
                stamp = f"{st.st_mtime_ns}-{st.st_size}"
            except OSError:
                pass
        return f"{row.name}|{row.fingerprint}|g{row.generation}|{stamp}"

    def _snapshot(self, encoder: str | None, read):
        """``read(session, row, store)`` with the FAISS generation and every SQLite row from one snapshot.

        The snapshot starts at the encoder row's read, so chunk rows read later in ``session`` are the
        ones that generation holds, even while a writer commits (reading them in a second transaction
        dropped hits a writer had just removed). A generation the writer deleted after our snapshot
        began makes us read again; a live generation whose file is missing or corrupt is an error.
        """
        for _ in range(5):
            with self.Session() as s:
                row = self._encoder_row(encoder, s)
                try:
                    store = self._store(row)
                except FaissFileError as err:
                    if self._generation(row.id) != row.generation:  # a writer replaced it meanwhile: read again
                        continue
                    raise FaissFileError(f"'{self.path}': encoder '{row.name}': {err}; run `l2v index "
                                         f"{self.root or 'FOLDER'} --db {self.path}` to rebuild it from the "
                                         "stored chunks") from None
                return read(s, row, store)
        raise FaissFileError(f"'{self.path}': could not read a stable snapshot (a writer kept replacing files); "
                             "try again")

    def _store(self, row: EncoderRow) -> VectorStore:
        cached = self._stores.get(row.id)
        if cached and cached[0] == row.generation:
            return cached[1]
        if row.generation == 0:
            store = VectorStore.create(row.dim, row.factory)
        else:
            store = VectorStore.load(faiss_path(self.path, row.id, row.name, row.generation), row.factory)
        self._stores[row.id] = (row.generation, store)
        return store

    def _generation(self, encoder_id: int) -> int | None:
        with self.Session() as s:
            return s.scalar(select(EncoderRow.generation).where(EncoderRow.id == encoder_id))

    def set_embedder(self, name: str, embedder: Embedder) -> None:
        """Use an already loaded encoder for queries (the UI, evaluation, tests) instead of loading its source."""
        row = self._encoder_row(name)
        if not fingerprint_matches(row.fingerprint, embedder):
            raise EncoderMismatchError(f"encoder '{name}' was indexed with fingerprint {row.fingerprint}, "
                                       f"the given one has {embedder.fingerprint}")
        self._embedders[row.name] = embedder

    def embedder(self, encoder: str | None = None) -> Embedder:
        """The encoder for queries, loaded from its recorded source (and checked against its fingerprint)."""
        row = self._encoder_row(encoder)
        if row.name not in self._embedders:
            self._embedders[row.name] = LazyEmbedder(row.name, row.source, row.fingerprint, row.dim).load()
        return self._embedders[row.name]

    # ---------------------------------------------------------------- search
    def task_instructions(self, encoder: str | None = None) -> dict[str, str]:
        """The query instructions the encoder was trained with, by task name (empty if it records none)."""
        config = json.loads(self._encoder_row(encoder).config or "{}")
        tasks = config.get("task_instructions") or {}
        return {str(k): str(v) for k, v in tasks.items()} if isinstance(tasks, dict) else {}

    def query_instruction(self, encoder: str | None = None, task: str | None = None,
                          instruction: str | None = None) -> str | None:
        """What a query is prefixed with: ``instruction`` if given, else the one recorded for ``task``, else None
        (the encoder's saved default). An unknown task is a one-line UsageError naming the encoder's tasks."""
        if instruction is not None or task is None:
            return instruction
        tasks = self.task_instructions(encoder)
        if task not in tasks:
            raise UsageError(f"task '{task}': encoder '{self._encoder_row(encoder).name}' was trained with "
                             f"{', '.join(sorted(tasks)) or 'no named tasks'}; pass one of those or --instruction")
        return tasks[task]

    def search(self, query: str, encoder: str | None = None, k: int = 10, instruction: str | None = None,
               where: Any = None, hybrid: bool = False, dense_weight: float | None = None,
               nprobe: int | None = None, ef_search: int | None = None, task: str | None = None) -> list[SearchResult]:
        """Top-k chunks for ``query``; ``instruction`` defaults to the one of ``task``, else the encoder's saved
        query instruction.

        ``nprobe`` (IVF) and ``ef_search`` (HNSW) raise an approximate index's recall for this search.
        """
        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        if blank_query(query):  # its vector would rank arbitrary chunks
            raise UsageError(EMPTY_QUERY)
        name = self._encoder_row(encoder).name
        self.check_searchable(name)   # before the model loads: a database still being built says so
        instruction = self.query_instruction(name, task, instruction)
        vector = self.embedder(name).encode_queries([query], instruction=instruction)
        return self.search_vector(np.asarray(vector)[0], name, k, where, bm25_query=query if hybrid else None,
                                  dense_weight=dense_weight, nprobe=nprobe, ef_search=ef_search)

    def search_documents(self, query: str, encoder: str | None = None, k: int = 10, instruction: str | None = None,
                         where: Any = None, hybrid: bool = False, dense_weight: float | None = None,
                         nprobe: int | None = None, ef_search: int | None = None,
                         passages: int = 3, task: str | None = None) -> list[DocumentHit]:
        """Top-k *documents*: each ranked by its best chunk, with up to ``passages`` - 1 other matching chunks.

        Chunk results are fetched deeper until ``k`` distinct documents are found (or the index is
        exhausted): with exact search the first hit of each document is its best chunk, so the
        documents equal a brute-force max over every chunk's score.
        """
        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        if blank_query(query):
            raise UsageError(EMPTY_QUERY)
        name = self._encoder_row(encoder).name
        self.check_searchable(name)   # before the model loads: a database still being built says so
        instruction = self.query_instruction(name, task, instruction)
        vector = np.asarray(self.embedder(name).encode_queries([query], instruction=instruction))[0]
        total = self.vectors(name).ntotal
        depth = min(max(4 * k, 20), max(total, 1))
        while True:
            hits = self.search_vector(vector, name, depth, where, bm25_query=query if hybrid else None,
                                      dense_weight=dense_weight, nprobe=nprobe, ef_search=ef_search)
            documents = group_by_document(hits, k, passages)
            if len(documents) >= k or depth >= total:
                return documents
            depth = min(depth * 4, total)

    def check_searchable(self, encoder: str | None = None) -> None:
        """Refuse, in one line, a search whose answer could only mislead (see ``readiness.check_searchable``)."""
        from .readiness import check_searchable

        check_searchable(self, encoder)

    def hybrid_dense_weight(self, encoder: str | None = None) -> float:
        """The dense share of hybrid search the encoder recorded (0.5 when it recorded none)."""
        return _recorded_dense_weight(self._encoder_row(encoder))

    def search_vector(self, vector: np.ndarray, encoder: str | None = None, k: int = 10, where: Any = None,
                      bm25_query: str | None = None, dense_weight: float | None = None, nprobe: int | None = None,
                      ef_search: int | None = None) -> list[SearchResult]:
        """Search with an already computed query vector (normalized here); with ``bm25_query``, fuse with BM25.

        Fusion is ``ranking.convex_fusion`` of the min-max-scaled scores of the top ``max(k, FUSION_DEPTH)`` of
        each ranking: ``dense_weight`` for the dense one, the rest for BM25 (None: the encoder's recorded
        ``hybrid_dense_weight``). A fused score is in [0, 1]; 1 = first in both rankings.
        """
        where = Where.of(where)
        return self._snapshot(encoder, lambda s, row, store: self._search_in(
            s, row, store, vector, k, where, bm25_query, dense_weight, nprobe, ef_search))

    def _search_in(self, s, row: EncoderRow, store: VectorStore, vector: np.ndarray, k: int, where: Where | None,
                   bm25_query: str | None, dense_weight: float | None, nprobe: int | None,
                   ef_search: int | None) -> list[SearchResult]:
        """``search_vector`` inside one read transaction ``s`` whose snapshot named ``store``'s generation."""
        if bm25_query:
            dense_weight = _recorded_dense_weight(row) if dense_weight is None else dense_weight
            if not 0.0 <= dense_weight <= 1.0:
                raise UsageError(f"dense weight must be between 0 and 1, got {dense_weight}")
        q = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != store.dim:
            raise UsageError(f"query vector has {q.shape[1]} dimensions, encoder '{row.name}' has {store.dim}")
        q = unit_rows(q)
        allowed = allowed_chunk_ids(s, where) if where else None
        depth = max(k, FUSION_DEPTH) if bm25_query else k
        scores, ids = store.search(q, depth, allowed=allowed, nprobe=nprobe, ef_search=ef_search)
        dense = {int(i): float(v) for i, v in zip(ids[0], scores[0]) if i >= 0}
        if bm25_query:
            lexical = bm25_scored(s, bm25_query, depth, set(allowed) if allowed is not None else None)
            fused = convex_fusion(list(dense.items()), lexical, dense_weight)[:k]
            ranks = {c: r for r, (c, _) in enumerate(lexical, start=1)}
            hits = [(c, score, dense.get(c), ranks.get(c)) for c, score in fused]
        else:
            hits = [(c, v, v, None) for c, v in list(dense.items())[:k]]
        return self._results(s, hits, row.name)

    def _results(self, s, hits, encoder: str) -> list[SearchResult]:
        ids = [c for c, *_ in hits]
        query = select(Chunk, Document).join(Document, Document.id == Chunk.document_id)
        rows = {c.id: (c, d) for part in id_batches(ids) for c, d in s.execute(query.where(Chunk.id.in_(part)))}
        out = []
        for chunk_id, score, dense, lexical in hits:
            if chunk_id not in rows:  # cannot happen within one snapshot; kept as a guard
                continue
            c, d = rows[chunk_id]
            out.append(SearchResult(c.id, d.id, d.path, d.title, d.doc_type, c.text,
                                    *stored_span(c.start, c.text, d.n_chars), float(score), len(out) + 1, encoder,
                                    dense, lexical))
        return out

    # ---------------------------------------------------------------- consistency
    def check_consistency(self) -> list[str]:
        """Problems with the invariant: every chunk marked indexed for an encoder is in its FAISS file, nothing else."""
        from .consistency import check

        return check(self)


def _with_chunk_counts(*chunk_filter):
    """``select(Document, number of its chunks)``; ``chunk_filter`` narrows the chunks counted (same documents)."""
    n = select(Chunk.document_id, func.count().label("n")).where(*chunk_filter).group_by(Chunk.document_id).subquery()
    return select(Document, func.coalesce(n.c.n, 0)).outerjoin(n, n.c.document_id == Document.id)


def _document_info(doc: Document, n_chunks: int) -> DocumentInfo:
    return DocumentInfo(doc.id, doc.path, doc.title, doc.doc_type, doc.size, doc.sha256, doc.n_chars, n_chunks,
                        doc.indexed_at)


def _recorded_dense_weight(row: EncoderRow) -> float:
    """The recorded weight, or 0.5 when the record is unusable (5 or NaN, from an l2v that did not check it):
    one bad value must not break every hybrid search."""
    try:
        return check_dense_weight(json.loads(row.config or "{}").get("hybrid_dense_weight", 0.5))
    except (ValueError, AttributeError, L2VError):
        return 0.5


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino
