"""Plain dataclasses the facade returns: ``Index`` reads (stable names: the UI and server use them) and
``build_index``'s ``RunReport``."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class SearchResult:
    chunk_id: int
    document_id: int
    path: str           # relative to the indexed folder
    title: str
    doc_type: str       # extension without the dot
    text: str           # the chunk text == document_text[start:end]
    start: int
    end: int
    score: float        # cosine similarity (dense), fused 0-1 score (hybrid) or scaled BM25 (keyword)
    rank: int           # 1-based
    encoder: str
    dense_score: float | None = None
    bm25_rank: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DocumentHit:
    """A document in results by document: its best chunk decides its rank; other matching chunks follow it."""

    document_id: int
    path: str
    title: str
    doc_type: str
    score: float        # the best chunk's score
    rank: int           # 1-based, among documents
    encoder: str
    best: SearchResult
    passages: list[SearchResult] = field(default_factory=list)   # the document's other matches, best first

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DocumentInfo:
    id: int
    path: str
    title: str
    doc_type: str
    size: int
    sha256: str
    n_chars: int
    n_chunks: int
    indexed_at: float


@dataclass
class ChunkInfo:
    id: int
    document_id: int
    path: str
    ordinal: int
    start: int
    end: int
    n_tokens: int
    text: str


@dataclass
class EncoderInfo:
    id: int
    name: str
    fingerprint: str
    dim: int
    factory: str
    source: str
    generation: int
    n_vectors: int      # chunks marked indexed for this encoder
    n_pending: int      # chunks it still lacks (an interrupted run, or added by another encoder's run)
    config: dict = field(default_factory=dict)


@dataclass
class SkippedInfo:
    path: str
    reason: str         # empty | binary | undecodable | corrupt | unreadable | too_large
    detail: str


@dataclass
class RunInfo:
    id: int
    started_at: float
    finished_at: float | None
    status: str         # done | failed (an error) | running (still going) | interrupted (killed)
    encoders: str
    docs_seen: int
    docs_added: int
    docs_changed: int
    docs_deleted: int
    docs_skipped: int
    chunks_added: int
    chunks_removed: int
    chunks_embedded: int


@dataclass
class IndexStatus:
    path: str
    root: str
    chunk_tokens: int
    overlap: int
    n_documents: int
    n_chunks: int
    encoders: list[EncoderInfo]
    skipped: list[SkippedInfo]
    last_run: RunInfo | None
    problems: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunReport:
    run_id: int
    docs_seen: int = 0
    docs_unchanged: int = 0
    docs_added: int = 0
    docs_changed: int = 0
    docs_deleted: int = 0
    docs_skipped: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_reused: int = 0      # chunks of edited documents whose text (and so vectors) did not change
    chunks_embedded: dict[str, int] = field(default_factory=dict)
    embedding_workers: dict[str, int] = field(default_factory=dict)  # encoder -> distinct Ray actors (with --ray)
    repaired: dict[str, str] = field(default_factory=dict)   # encoder -> why its FAISS file was rebuilt
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)
