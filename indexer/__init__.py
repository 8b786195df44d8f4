"""Folder of documents -> chunks -> embeddings -> FAISS + SQLite, incremental and crash-safe.

This package is a facade (as txtai's ``embeddings`` is over ``ann/``, ``database/``, ``scoring/``): ``Index``
(read) and ``build_index`` (write) over sub-packages named for the data flow --
``sources`` (walk + extract) -> ``chunking`` -> ``embedding`` (encoders, engines) -> ``vectors`` (FAISS)
+ ``store`` (SQLite schema, migrations, sessions, file layout). FAISS id == ``chunks.id``, so nothing
renumbers. Callers above this layer (the UI, the server) use only the names exported here.

Public API (names are stable; the UI and evaluation build on them)::

    from indexer import Index, build_index, IndexOptions

    report = build_index("docs/", "my.l2v", {"tiny": "path/to/encoder_dir"},
                         IndexOptions(include=["*.md"], chunk_tokens=400, overlap=64, factory="Flat"))
    idx = Index.open("my.l2v")
    hits = idx.search("which PEP added the walrus operator?", encoder=None, k=10,
                      instruction=None, where={"path": "peps/**", "type": "rst"}, hybrid=False)
    hits[0].path, hits[0].title, hits[0].text, hits[0].start, hits[0].end, hits[0].score, hits[0].chunk_id

``Index`` (read side; never blocks on a writer):
  - ``Index.open(path)`` / ``close()`` / context manager; ``path``, ``root``
  - ``search(query, encoder=None, k=10, instruction=None, where=None, hybrid=False) -> list[SearchResult]``
  - ``search_vector(vector, encoder=None, k=10, where=None, bm25_query=None)`` (query already embedded)
  - ``encoders() -> list[EncoderInfo]``, ``documents(limit=None, offset=0, where=None) -> list[DocumentInfo]``,
    ``document(id_or_path) -> DocumentInfo | None``,
    ``chunks(document_id=None, ids=None) -> list[ChunkInfo]``, ``skipped() -> list[SkippedInfo]``,
    ``runs(limit=20) -> list[RunInfo]``, ``status(check=True) -> IndexStatus``, ``check_consistency() -> list[str]``,
    ``documents_by_id(ids)``, ``document_types()``, ``chunk_documents()``, ``generation_stamp(name=None)``,
    ``stored_vectors(name=None) -> StoredVectors`` (ids and rows in blocks, for clustering)
  - ``embedder(name=None)`` (loaded lazily from the recorded source), ``set_embedder(name, embedder)``
    (reuse an encoder already in memory), ``vectors(name=None) -> VectorStore`` (the live FAISS index)
  ``where``: ``None`` or ``{"path": "docs/**", "type": "md" | ["md", "rst"]}`` or ``indexer.Where``.
  ``encoder=None`` means the first encoder the database recorded.

Writing: ``build_index(folder, db, encoders=None, options=None) -> RunReport``; ``encoders`` maps a name to a
source (saved encoder dir, LLM2Vec checkpoint dir, hub id, or a plugin's ``scheme:...`` source, see
``indexer.plugins``) or to an object satisfying ``indexer.Embedder``; None re-uses the encoders recorded in the
database.
"""
from typing import TYPE_CHECKING

from adaptation.lazy import lazy_exports

if TYPE_CHECKING:
    from .build import build_index
    from .defaults import (BASELINE_ENCODER_NAME, DEFAULT_ENCODER_NAME, baseline_encoder_path, default_encoder_path,
                           demo_db_path, sample_docs_path)
    from .errors import L2VError, UsageError
    from .embedding import Embedder, EncoderAdapter, default_name, load_embedder, resolve_source
    from .embedding.ray_engine import RayOptions
    from .index import Index
    from .options import IndexOptions
    from .query import DEFAULT_HYBRID, EMPTY_QUERY, blank_query
    from adaptation.hardware import DTYPE_HELP, use_dtype
    from .remote import SEARCH_LIMITS, run_search
    from .serve_record import local_url, remove_record, write_record
    from adaptation.evaluation.report import load_report
    from .results import (ChunkInfo, DocumentHit, DocumentInfo, EncoderInfo, IndexStatus, RunInfo, RunReport,
                          SearchResult, SkippedInfo)
    from .sources import Skip, extract, open_inside
    from .store.queries import Where
    from adaptation.terminal import terminal_safe
    from .cli import reported_interrupt

__getattr__, __all__ = lazy_exports(__name__, {
    ".build": ["build_index"],
    ".defaults": ["BASELINE_ENCODER_NAME", "DEFAULT_ENCODER_NAME", "baseline_encoder_path", "default_encoder_path",
                  "demo_db_path", "sample_docs_path"],
    ".errors": ["L2VError", "UsageError"],
    ".embedding": ["Embedder", "EncoderAdapter", "default_name", "load_embedder", "resolve_source"],
    ".embedding.ray_engine": ["RayOptions"],
    ".index": ["Index"],
    ".options": ["IndexOptions"],
    # one dense/hybrid default and one notion of an empty query for every search surface
    ".query": ["DEFAULT_HYBRID", "EMPTY_QUERY", "blank_query"],
    ".remote": ["SEARCH_LIMITS", "run_search"],
    # DB/serve.json: how `l2v search` finds a running `l2v serve` of the same database
    ".serve_record": ["local_url", "remove_record", "write_record"],
    # the dtype every encoder this process loads runs in (--dtype of the UI commands, as of l2v index)
    "adaptation.hardware": ["DTYPE_HELP", "use_dtype"],
    # encoder evaluation reports (``l2v eval --out``) for the UI's Index page
    "adaptation.evaluation.report": ["load_report"],
    ".results": ["ChunkInfo", "DocumentHit", "DocumentInfo", "EncoderInfo", "IndexStatus", "RunInfo", "RunReport",
                 "SearchResult", "SkippedInfo"],
    # open_inside: the UI reads a document's file the way the indexer did (no link followed out of the root)
    ".sources": ["Skip", "extract", "open_inside"],
    ".store.queries": ["Where"],
    # file names, titles and text printed on a terminal: control characters escaped (the error printer's too)
    "adaptation.terminal": ["terminal_safe"],
    # Ctrl-C while indexing: the one line and exit code of `l2v index`, shared by `l2v demo`
    ".cli": ["reported_interrupt"],
})
