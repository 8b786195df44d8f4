"""SQLite tables as SQLAlchemy 2.x ORM models: what the code reads and writes through.

The tables themselves are created and changed only by the frozen DDL in ``migrations.py``; a test
holds these models and that DDL to the same schema. Chunk ids are AUTOINCREMENT so an id is never
reused: FAISS id == chunks.id in every encoder's index, and UI references stay unambiguous.
"""
from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index as SqlIndex, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)


class Setting(Base):
    """Key/value settings of the whole database (chunking parameters, format version)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String, unique=True)        # relative to the indexed root, '/' separated
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    mtime_ns: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    doc_type: Mapped[str] = mapped_column(String)                  # extension without dot: md, pdf, py...
    n_chars: Mapped[int] = mapped_column(Integer)
    indexed_at: Mapped[float] = mapped_column(Float)


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (SqlIndex("ix_chunks_document", "document_id"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)                  # position in the document
    start: Mapped[int] = mapped_column(Integer)                    # character offsets in the extracted text
    end: Mapped[int] = mapped_column(Integer)
    n_tokens: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)


class EncoderRow(Base):
    """One encoder = one FAISS file; ``generation`` names the file readers must load."""

    __tablename__ = "encoders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    fingerprint: Mapped[str] = mapped_column(String)
    dim: Mapped[int] = mapped_column(Integer)
    factory: Mapped[str] = mapped_column(String)
    source: Mapped[str] = mapped_column(Text)                      # path or hub id to reload it from
    config: Mapped[str] = mapped_column(Text)                      # the encoder's saved config (json), for display
    generation: Mapped[int] = mapped_column(Integer, default=0)    # 0 = no FAISS file yet
    ntotal: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)


class Membership(Base):
    """Chunk ``chunk_id`` is in encoder ``encoder_id``'s FAISS file of the current generation."""

    __tablename__ = "membership"
    __table_args__ = (SqlIndex("ix_membership_encoder", "encoder_id", "chunk_id"),)
    chunk_id: Mapped[int] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True)
    encoder_id: Mapped[int] = mapped_column(ForeignKey("encoders.id", ondelete="CASCADE"), primary_key=True)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String, default="running")  # running | done | failed (a kill leaves running)
    root: Mapped[str] = mapped_column(Text)
    encoders: Mapped[str] = mapped_column(Text)                      # comma separated names
    docs_seen: Mapped[int] = mapped_column(Integer, default=0)
    docs_added: Mapped[int] = mapped_column(Integer, default=0)
    docs_changed: Mapped[int] = mapped_column(Integer, default=0)
    docs_deleted: Mapped[int] = mapped_column(Integer, default=0)
    docs_skipped: Mapped[int] = mapped_column(Integer, default=0)
    chunks_added: Mapped[int] = mapped_column(Integer, default=0)
    chunks_removed: Mapped[int] = mapped_column(Integer, default=0)
    chunks_embedded: Mapped[int] = mapped_column(Integer, default=0)


class Skipped(Base):
    __tablename__ = "skipped"
    __table_args__ = (UniqueConstraint("path"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String)  # empty|binary|undecodable|corrupt|unreadable|too_large|outside_root|bad_name|error
    detail: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    mtime_ns: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # what else the skip depended on (ctime, mode, size limit, extractor version; see sync.skip_key):
    # a skip whose key changed is retried even if size and mtime did not (migration m002)
    retry_key: Mapped[str] = mapped_column(Text, default="", server_default="")
