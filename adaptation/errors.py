"""Domain errors of the encoder and adaptation layers.

Every error a *user* can cause (bad path, bad option, unsupported model) is an
``L2VError``: the CLI prints its message on one line and exits with its code, the
UI shows it with ``st.error``. Anything else is a bug and keeps its traceback.
Other packages (indexer, search_ui) derive their errors from ``L2VError`` too.
"""
from __future__ import annotations


class L2VError(Exception):
    """Base of all user-facing errors: the message says what to change."""

    exit_code = 1


class UsageError(L2VError):
    """A bad argument value (unknown pooling name, bad dtype, ...)."""

    exit_code = 2


class ModelNotFoundError(L2VError):
    """A model path or hub id that cannot be loaded."""

    exit_code = 3


class UnsupportedModelError(L2VError):
    """A model family the bidirectional mechanism has not been validated on."""

    exit_code = 4


class AdapterError(L2VError):
    """An adapter that is missing, malformed or does not fit its base model."""

    exit_code = 5


class EncoderFormatError(L2VError):
    """A saved encoder directory that is incomplete or from an unknown format."""

    exit_code = 6


class OutOfMemoryError(L2VError):
    """Even a batch of one does not fit; the message names what to reduce."""

    exit_code = 7
