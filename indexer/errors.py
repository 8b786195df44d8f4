"""User-facing errors of the indexer: each message names the file/option and what to do."""
from __future__ import annotations

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


__all__ = ["IndexError_", "IndexNotFoundError", "IndexLockedError", "EncoderMismatchError", "NoEncoderError",
           "IndexFormatError", "ChunkingMismatchError", "UsageError", "L2VError"]
