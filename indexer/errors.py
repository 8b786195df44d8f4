"""User-facing errors of the indexer: each message names the file/option and what to do."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from adaptation.errors import L2VError, UsageError


class IndexError_(L2VError):
    """Base of indexer errors (named with a trailing underscore to keep the builtin visible)."""

    exit_code = 10


class IndexNotFoundError(IndexError_):
    """The database directory does not exist or holds no metadata.sqlite."""

    exit_code = 11


class IndexLockedError(IndexError_):
    """Another process is writing to the same database."""

    exit_code = 12


class EncoderMismatchError(IndexError_):
    """An encoder name is already bound to different vectors (fingerprint) or dimension."""

    exit_code = 13


class NoEncoderError(IndexError_):
    """No encoder was given and none is recorded or shipped."""

    exit_code = 14


class IndexFormatError(IndexError_):
    """index.json / schema version newer than this program, or files missing."""

    exit_code = 15


class ChunkingMismatchError(IndexError_):
    """--chunk-tokens/--overlap differ from the ones the database was built with."""

    exit_code = 16


class FaissFileError(IndexFormatError):
    """An encoder's live FAISS file is missing, unreadable or inconsistent; ``l2v index`` rebuilds it
    from the chunks stored in SQLite (re-embedding them)."""


class StorageError(IndexError_):
    """The disk or SQLite refused a read or write (disk full, permissions, I/O error): not a bug, so the
    CLI prints one line instead of a traceback."""

    exit_code = 17


class IndexNotReadyError(IndexError_):
    """A search the database cannot answer yet: its first ``l2v index`` run is still going, or the encoder
    has no vectors because the run that embeds them stopped first. "No results" would be a wrong answer."""

    exit_code = 18


__all__ = ["IndexError_", "IndexNotReadyError", "IndexNotFoundError", "IndexLockedError", "EncoderMismatchError", "NoEncoderError",
           "IndexFormatError", "ChunkingMismatchError", "FaissFileError", "StorageError", "UsageError", "L2VError",
           "describe_storage_error", "storage_errors"]


def describe_storage_error(err: BaseException) -> str | None:
    """One line for an OS/disk/SQLite failure (None if ``err`` is not one): what failed and what to do."""
    import errno
    import sqlite3

    if isinstance(err, OSError):
        where = f" ({err.filename})" if err.filename else ""
        reason = err.strerror or str(err)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"disk full{where}: {reason}; free some space and run the command again (the previous state is intact)"
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"no permission to write{where}: {reason}"
        return f"I/O error{where}: {reason}"
    cause = getattr(err, "orig", None) or err  # sqlalchemy wraps the sqlite3 exception
    # disk full, I/O error, locked, read-only, not a database, malformed; constraint violations stay bugs
    if isinstance(cause, sqlite3.OperationalError) or type(cause) is sqlite3.DatabaseError:
        reason = str(cause).strip().splitlines()[0]
        hint = "; free some space and run the command again (the previous state is intact)" \
            if "full" in reason else ""
        return f"SQLite error: {reason}{hint}"
    return None


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn OS/disk/SQLite failures inside the block into one-line ``StorageError``s (the CLI's contract)."""
    try:
        yield
    except L2VError:
        raise
    except Exception as err:
        line = describe_storage_error(err)
        if line is None:
            raise
        raise StorageError(line) from err
