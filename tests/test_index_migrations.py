"""Migrations are frozen DDL: a fresh database migrated to head has exactly the tables the ORM models
describe, and a database made at version 1 migrates to the same schema with its rows intact."""
from __future__ import annotations

import sqlite3

from sqlalchemy import create_engine, text

from indexer.store.database import make_engine, migrate
from indexer.store.migrations import MIGRATIONS, SCHEMA_VERSION, m001_initial
from indexer.store.schema import Base


def schema_of(path) -> dict[str, object]:
    """Every table's columns (name, type, not null, default, primary key) and indexes, and the FTS table."""
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE "
                                            "'sqlite_%' AND name NOT LIKE 'chunks_fts_%' ORDER BY name")]
        out: dict[str, object] = {}
        for table in tables:
            out[table] = [tuple(r[1:]) for r in con.execute(f"PRAGMA table_info('{table}')")]
            out[table + ":indexes"] = sorted(
                (r[1], r[2], tuple(c[2] for c in con.execute(f"PRAGMA index_info('{r[1]}')")))
                for r in con.execute(f"PRAGMA index_list('{table}')"))
        out["autoincrement"] = sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE sql LIKE "
                                                                "'%AUTOINCREMENT%'"))
        return out
    finally:
        con.close()


def models_schema(tmp_path):
    """What the ORM models declare, created directly (plus the FTS table, which no model describes)."""
    path = tmp_path / "models.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE VIRTUAL TABLE chunks_fts USING fts5(text, tokenize='unicode61')"))
    engine.dispose()
    return schema_of(path)


def test_a_fresh_database_at_head_matches_the_models(tmp_path):
    engine = make_engine(tmp_path / "db.l2v", create=True)
    engine.dispose()
    assert SCHEMA_VERSION == len(MIGRATIONS) == 2
    fresh = schema_of(tmp_path / "db.l2v" / "metadata.sqlite")
    assert fresh == models_schema(tmp_path)
    assert "chunks_fts" in fresh and fresh["autoincrement"] == ["chunks"]


def test_a_version_1_database_migrates_to_head_with_its_rows(tmp_path):
    db = tmp_path / "old.l2v"
    db.mkdir()
    path = db / "metadata.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:   # exactly what an l2v at schema version 1 wrote
        m001_initial(conn)
        conn.execute(text("INSERT INTO schema_version(version) VALUES (1)"))
        conn.execute(text("INSERT INTO settings VALUES ('root', '/docs')"))
        conn.execute(text("INSERT INTO documents VALUES (1, 'a.md', 'x', 3, 4, 'A', 'md', 5, 6.0)"))
        conn.execute(text("INSERT INTO chunks(document_id, ordinal, start, \"end\", n_tokens, text) "
                          "VALUES (1, 0, 0, 5, 2, 'hello')"))
        conn.execute(text("INSERT INTO chunks_fts(rowid, text) VALUES (1, 'hello')"))
        conn.execute(text("INSERT INTO skipped(id, path, reason, detail, size, mtime_ns, run_id) "
                          "VALUES (1, 'b.bin', 'binary', '', 9, 9, NULL)"))
    v1 = schema_of(path)
    assert "retry_key" not in [c[0] for c in v1["skipped"]]

    assert migrate(engine) == SCHEMA_VERSION
    engine.dispose()
    assert schema_of(path) == models_schema(tmp_path)
    con = sqlite3.connect(path)
    try:
        assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert con.execute("SELECT path, retry_key FROM skipped").fetchall() == [("b.bin", "")]
        assert con.execute("SELECT text FROM chunks").fetchall() == [("hello",)]
        assert con.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH 'hello'").fetchall() == [(1,)]
        assert con.execute("SELECT value FROM settings WHERE key='root'").fetchall() == [("/docs",)]
    finally:
        con.close()


def test_the_next_chunk_id_is_never_a_reused_one_after_migration(tmp_path):
    """AUTOINCREMENT survives the frozen DDL: FAISS ids (== chunk ids) are never handed out twice."""
    engine = make_engine(tmp_path / "db.l2v", create=True)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO documents VALUES (1, 'a.md', 'x', 3, 4, 'A', 'md', 5, 6.0)"))
        for _ in range(2):
            conn.execute(text("INSERT INTO chunks(document_id, ordinal, start, \"end\", n_tokens, text) "
                              "VALUES (1, 0, 0, 1, 1, 't')"))
        conn.execute(text("DELETE FROM chunks WHERE id = 2"))
        conn.execute(text("INSERT INTO chunks(document_id, ordinal, start, \"end\", n_tokens, text) "
                          "VALUES (1, 1, 0, 1, 1, 'u')"))
        ids = [r[0] for r in conn.execute(text("SELECT id FROM chunks ORDER BY id"))]
    engine.dispose()
    assert ids == [1, 3]
