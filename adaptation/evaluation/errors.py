"""Errors a user can cause when evaluating: a bad task spec or a file in an unknown format."""
from __future__ import annotations

from adaptation.errors import L2VError


class EvaluationError(L2VError):
    """A bad ``--task`` / ``--instruction`` value or an unusable evaluation setting."""

    exit_code = 2


class DataFormatError(L2VError):
    """An evaluation file that cannot be parsed; the message names the file and the fix."""

    exit_code = 8
