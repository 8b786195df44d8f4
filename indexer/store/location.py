"""Where ``l2v index --db`` may write, and the mark a database carries until its first commit.

The writer deletes files it takes for its own (FAISS generations no commit names, ``--rebuild`` wipes
``faiss/`` and ``tokenizer/``, ``index.json`` is rewritten), so ``--db`` naming somebody else's folder
must be refused before a byte is written: an l2v database is a folder with ``metadata.sqlite`` (an
SQLite file holding l2v's ``schema_version``, or no table yet), and only a new or empty folder becomes
one. A database inside the documents folder would be walked as documents (and sits where a user
cleaning that folder deletes it); one containing the documents folder is wiped with it by ``--rebuild``.

A new database is marked ``creating.json`` (the encoders it was asked to use) before anything else is
written, and the mark goes in its first commit's wake: a run killed in between leaves a database the
next run recognises and completes with the same encoders, instead of silently picking the default one.
"""
from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from adaptation.storage import read_json_or_empty, write_json_atomic

from ..errors import UsageError
from .database import LOCK_NAME, SQLITE_NAME

CREATING_NAME = "creating.json"
RULE = "--db must be a new or empty folder or an existing l2v database, outside the documents folder"


@dataclass(frozen=True)
class DatabaseState:
    """What ``--db`` names: ``new`` (missing or empty), ``creating`` (a creation was interrupted before
    its first commit) or ``database``. ``encoders``: name -> source the interrupted creation asked for, or
    the encoders a database records (None: unknown, its SQLite file could not be read)."""

    kind: str
    encoders: dict[str, str] | None = field(default_factory=dict)


def inspect_database(db: Path, folder: Path | None = None) -> DatabaseState:
    """Classify ``db`` (resolved paths), or raise a one-line ``UsageError`` saying why it may not be written."""
    db = Path(db)
    if folder is not None:
        _check_apart(db, Path(folder))
    if not db.exists():
        return DatabaseState("new")
    if not db.is_dir():
        raise UsageError(f"--db '{db}' is a file; {RULE}")
    if (db / SQLITE_NAME).is_file():
        recorded = _recorded_encoders(db)
        if recorded == {} and (db / CREATING_NAME).is_file():  # killed after creating SQLite, before committing
            return DatabaseState("creating", _marked(db))
        return DatabaseState("database", recorded)
    if (db / CREATING_NAME).is_file():
        return DatabaseState("creating", _marked(db))
    foreign = sorted(p.name for p in db.iterdir() if not _own_leftover(p.name))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise UsageError(f"--db '{db}' is a folder that is not an l2v database (no {SQLITE_NAME}; it holds "
                         f"{shown}); {RULE}")
    return DatabaseState("new")


def mark_creating(db: Path, encoders: Mapping[str, str]) -> None:
    """Record, before anything else is written, which encoders a new database is being created with."""
    write_json_atomic(Path(db) / CREATING_NAME, {"encoders": dict(encoders)})


def created(db: Path) -> None:
    """The first commit holds the encoders: the database no longer needs its creation mark."""
    (Path(db) / CREATING_NAME).unlink(missing_ok=True)


def remove_own_files(db: Path) -> None:
    """Undo a failed creation in a folder the user made (kept, empty again): only what l2v writes there."""
    for path in Path(db).iterdir():
        if path.name in (SQLITE_NAME, SQLITE_NAME + "-wal", SQLITE_NAME + "-shm", "index.json") \
                or _own_leftover(path.name):
            path.unlink(missing_ok=True)
        elif path.name in ("faiss", "tokenizer") and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _check_apart(db: Path, folder: Path) -> None:
    """The database and the documents folder must not hold one another."""
    suggestion = folder.parent / f"{folder.name}.l2v"
    if db == folder:
        raise UsageError(f"--db '{db}' is the documents folder itself; {RULE} (e.g. --db {suggestion})")
    if folder in db.parents:
        existing = (db / SQLITE_NAME).is_file()
        hint = (f"move it out (mv keeps everything indexed) and pass its new path" if existing
                else f"e.g. --db {suggestion}")
        raise UsageError(f"--db '{db}' is inside the documents folder '{folder}'; {RULE}: {hint}")
    if db in folder.parents:
        raise UsageError(f"--db '{db}' contains the documents folder '{folder}'; {RULE} (e.g. --db {suggestion})")


def _own_leftover(name: str) -> bool:
    """Files a killed l2v run can leave in a folder before its database exists (lock, mark, temp files)."""
    return name in (LOCK_NAME, CREATING_NAME) or (name.startswith(f".{CREATING_NAME}.") and name.endswith(".tmp"))


def _marked(db: Path) -> dict[str, str]:
    encoders = read_json_or_empty(Path(db) / CREATING_NAME).get("encoders")
    if not isinstance(encoders, dict):
        return {}
    return {str(k): v for k, v in encoders.items() if isinstance(v, str) and v and not v.startswith("<")}


def _recorded_encoders(db: Path) -> dict[str, str] | None:
    """name -> source of the encoders ``db/metadata.sqlite`` records ({} when none yet, None when unreadable);
    an SQLite file with tables but not l2v's is refused."""
    uri = (Path(db) / SQLITE_NAME).resolve().as_uri() + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "schema_version" not in tables:
            raise UsageError(f"--db '{db}' holds a {SQLITE_NAME} that is not an l2v database; {RULE}")
        if "encoders" not in tables:
            return {}
        return {str(n): str(s) for n, s in con.execute("SELECT name, source FROM encoders ORDER BY id")}
    except sqlite3.Error:
        return None
    finally:
        con.close()
