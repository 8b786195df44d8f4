"""``index.json``: a self-describing summary beside the SQLite file, rewritten after each run.

The database stays the source of truth; the summary lets a person (or another tool) see what a
database directory holds without SQLite.
"""
from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from adaptation.storage import write_json_atomic

from .database import FORMAT_VERSION, INDEX_JSON, get_setting
from .layout import faiss_path
from .migrations import SCHEMA_VERSION
from .schema import Chunk, Document, EncoderRow


def write_index_json(db: Path, Session) -> None:
    """Write ``db/index.json`` from the committed state (called by the writer, before it marks a run done)."""
    with Session() as s:
        data = {"format_version": FORMAT_VERSION, "schema_version": SCHEMA_VERSION, "root": get_setting(s, "root"),
                "chunking": {"max_tokens": int(get_setting(s, "chunk_tokens", "0")),
                             "overlap": int(get_setting(s, "overlap", "0")), "tokenizer": "tokenizer/"},
                "documents": s.scalar(select(func.count(Document.id))),
                "chunks": s.scalar(select(func.count(Chunk.id))),
                "encoders": [{"name": r.name, "source": r.source, "fingerprint": r.fingerprint, "dim": r.dim,
                              "factory": r.factory, "generation": r.generation, "vectors": r.ntotal,
                              "file": faiss_path(db, r.id, r.name, r.generation).relative_to(db).as_posix()
                              if r.generation else None}
                             for r in s.scalars(select(EncoderRow).order_by(EncoderRow.id))],
                "updated_at": time.time()}
    write_json_atomic(Path(db) / INDEX_JSON, data)
