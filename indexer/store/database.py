"""The SQLite side of a database directory: engine (WAL), migrations, the writer lock.

Layout of ``my.l2v/``: ``metadata.sqlite`` (+ WAL files), ``faiss/`` (one file per
encoder and generation), ``tokenizer/`` (the chunking tokenizer), ``index.json``
(a self-describing summary, rewritten after each run), ``.lock``, and ``creating.json``
only while a new database awaits its first commit (``location``: what ``--db`` may name).
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ..errors import IndexFormatError, IndexLockedError, IndexNotFoundError
from .migrations import MIGRATIONS, SCHEMA_VERSION
from .schema import SchemaVersion, Setting

SQLITE_NAME = "metadata.sqlite"
INDEX_JSON = "index.json"
LOCK_NAME = ".lock"
FORMAT_VERSION = 1


def sqlite_path(db: Path) -> Path:
    return Path(db) / SQLITE_NAME


def read_only(db: Path) -> bool:
    """Can this process not write the database (a read-only file, folder or mount)?

    SQLite in WAL mode writes even to read (the -wal/-shm files beside the database), so such a
    database must be opened with ``mode=ro`` and without pragmas that write.
    """
    path = sqlite_path(db)
    return not os.access(path, os.W_OK) or not os.access(Path(db), os.W_OK)


def make_engine(db: Path, create: bool = False) -> Engine:
    """An engine on ``db/metadata.sqlite`` with WAL, foreign keys and a busy timeout (read-only: ``mode=ro``)."""
    db = Path(db)
    path = sqlite_path(db)
    if not path.is_file():
        if not create:
            raise IndexNotFoundError(f"'{db}' is not an l2v database (no {SQLITE_NAME}); build it with `l2v index FOLDER --db {db}`")
        db.mkdir(parents=True, exist_ok=True)
    readonly = not create and read_only(db)
    if readonly:
        # immutable: with no -wal file nobody is writing, and a read-only folder cannot hold a -shm file
        immutable = "&immutable=1" if not os.access(db, os.W_OK) and not path.with_name(SQLITE_NAME + "-wal").exists() else ""
        engine = create_engine(f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro{immutable}&uri=true", future=True)
    else:
        engine = create_engine(f"sqlite:///{path}", future=True)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        # pysqlite only opens transactions before writes, so two SELECTs could see two commits; we emit
        # BEGIN ourselves (below): every session reads one WAL snapshot (consistency checks rely on it)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if readonly:
            cur.execute("PRAGMA query_only=ON")          # nothing below may try to write
        else:
            cur.execute("PRAGMA journal_mode=WAL")      # readers keep working while a writer commits
            cur.execute("PRAGMA synchronous=FULL")      # a commit survives power loss, FAISS generations rely on it
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN")

    migrate(engine, readonly=readonly)
    return engine


def migrate(engine: Engine, readonly: bool = False) -> int:
    """Bring the schema to SCHEMA_VERSION, one migration per transaction; returns the version."""
    with engine.begin() as conn:
        has = conn.execute(text("SELECT name FROM sqlite_master WHERE name='schema_version'")).first()
        version = conn.execute(select(SchemaVersion.version)).scalar() if has else 0
    version = version or 0
    if version > SCHEMA_VERSION:
        raise IndexFormatError(f"{engine.url.database}: schema version {version} is newer than this l2v "
                               f"understands ({SCHEMA_VERSION}); upgrade l2v-search")
    if readonly and version < SCHEMA_VERSION:
        raise IndexFormatError(f"{engine.url.database}: schema version {version} needs an upgrade, but the "
                               "database is read-only; run `l2v index` once where it is writable")
    while version < SCHEMA_VERSION:
        with engine.begin() as conn:
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(text("DELETE FROM schema_version"))
            conn.execute(text("INSERT INTO schema_version(version) VALUES (:v)"), {"v": version})
    return version


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, future=True)


def get_setting(session: Session, key: str, default: str | None = None) -> str | None:
    row = session.get(Setting, key)
    return row.value if row else default


def set_setting(session: Session, key: str, value: str) -> None:
    session.merge(Setting(key=key, value=value))


@contextmanager
def writer_lock(db: Path) -> Iterator[None]:
    """Exclusive, non-blocking: a second writer gets a clear error instead of waiting or corrupting."""
    db = Path(db)
    db.mkdir(parents=True, exist_ok=True)
    handle = open(db / LOCK_NAME, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IndexLockedError(f"'{db}' is being updated by {holder}; wait for it to finish "
                                   "(searches keep working meanwhile)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the flock; the kernel also releases it if we are killed


def writer_alive(db: Path) -> bool:
    """Is the process named in the lock file (the last writer) still running?

    A killed run cannot mark itself; its row stays "running" until a reader asks this and
    the next writer marks it "interrupted".
    """
    try:
        holder = (Path(db) / LOCK_NAME).read_text().split()
        pid = int(holder[-1]) if holder else 0
    except (OSError, ValueError):
        return False
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` running (another user's counts)? Used for the writer lock and DB/serve.json."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except OSError:
        return False
    return True
