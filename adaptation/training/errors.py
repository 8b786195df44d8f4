"""Errors a user can cause when adapting a model; the CLI prints each as one line."""
from __future__ import annotations

from ..errors import L2VError


class TrainingDataError(L2VError):
    """A data file or dataset that is missing, empty or malformed."""

    exit_code = 8


class RunStateError(L2VError):
    """A run directory that conflicts with the request (exists without --resume, other config...)."""

    exit_code = 9
