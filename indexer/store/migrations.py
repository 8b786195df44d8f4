"""Schema migrations as frozen, literal DDL (the way datasette and simonw/llm keep theirs).

Migration ``m00N`` upgrades a database from version N-1 to N. Each is written out as the SQL it ran
when it was added and is never edited afterwards: a migration computed from the live ORM models
(``create_all``) would create *today's* tables at version 1, and the first later migration that adds
a column would then fail on every fresh database. ``schema.py`` holds the models the code reads and
writes through; ``tests/test_index_migrations.py`` checks that migrating a fresh database to head gives
exactly the tables those models describe, and that an old database migrates with its rows intact.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection

M001_INITIAL = [
    """CREATE TABLE schema_version (
        version INTEGER NOT NULL,
        PRIMARY KEY (version))""",
    """CREATE TABLE settings (
        "key" VARCHAR NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY ("key"))""",
    """CREATE TABLE documents (
        id INTEGER NOT NULL,
        path VARCHAR NOT NULL,
        sha256 VARCHAR(64) NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        title TEXT NOT NULL,
        doc_type VARCHAR NOT NULL,
        n_chars INTEGER NOT NULL,
        indexed_at FLOAT NOT NULL,
        PRIMARY KEY (id),
        UNIQUE (path))""",
    """CREATE TABLE encoders (
        id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        dim INTEGER NOT NULL,
        factory VARCHAR NOT NULL,
        source TEXT NOT NULL,
        config TEXT NOT NULL,
        generation INTEGER NOT NULL,
        ntotal INTEGER NOT NULL,
        created_at FLOAT NOT NULL,
        PRIMARY KEY (id),
        UNIQUE (name))""",
    """CREATE TABLE runs (
        id INTEGER NOT NULL,
        started_at FLOAT NOT NULL,
        finished_at FLOAT,
        status VARCHAR NOT NULL,
        root TEXT NOT NULL,
        encoders TEXT NOT NULL,
        docs_seen INTEGER NOT NULL,
        docs_added INTEGER NOT NULL,
        docs_changed INTEGER NOT NULL,
        docs_deleted INTEGER NOT NULL,
        docs_skipped INTEGER NOT NULL,
        chunks_added INTEGER NOT NULL,
        chunks_removed INTEGER NOT NULL,
        chunks_embedded INTEGER NOT NULL,
        PRIMARY KEY (id))""",
    """CREATE TABLE skipped (
        id INTEGER NOT NULL,
        path VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        detail TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        run_id INTEGER,
        PRIMARY KEY (id),
        UNIQUE (path))""",
    # AUTOINCREMENT: a chunk id is never reused, because it is also the vector's id in every FAISS file
    """CREATE TABLE chunks (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        document_id INTEGER NOT NULL,
        ordinal INTEGER NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        n_tokens INTEGER NOT NULL,
        text TEXT NOT NULL,
        FOREIGN KEY(document_id) REFERENCES documents (id) ON DELETE CASCADE)""",
    "CREATE INDEX ix_chunks_document ON chunks (document_id)",
    """CREATE TABLE membership (
        chunk_id INTEGER NOT NULL,
        encoder_id INTEGER NOT NULL,
        PRIMARY KEY (chunk_id, encoder_id),
        FOREIGN KEY(chunk_id) REFERENCES chunks (id) ON DELETE CASCADE,
        FOREIGN KEY(encoder_id) REFERENCES encoders (id) ON DELETE CASCADE)""",
    "CREATE INDEX ix_membership_encoder ON membership (encoder_id, chunk_id)",
    # BM25 over the same chunks; rowid == chunks.id, maintained next to chunks by the writer
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, tokenize='unicode61')",
]


def m001_initial(conn: Connection) -> None:
    for statement in M001_INITIAL:
        conn.execute(text(statement))


def m002_skipped_retry_key(conn: Connection) -> None:
    """``skipped.retry_key``: what else a skip depended on; older rows get '' and so are retried once."""
    columns = {row[1] for row in conn.execute(text("PRAGMA table_info(skipped)"))}
    # l2v 0.x created version 1 from the live models, so a database it made may hold the column already
    if "retry_key" not in columns:
        conn.execute(text("ALTER TABLE skipped ADD COLUMN retry_key TEXT NOT NULL DEFAULT ''"))


# Append, never edit: MIGRATIONS[i] upgrades version i to i + 1.
MIGRATIONS: list[Callable[[Connection], None]] = [m001_initial, m002_skipped_retry_key]
SCHEMA_VERSION = len(MIGRATIONS)
