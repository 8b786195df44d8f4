"""User-facing errors of ``l2v pretrain`` (one line on the CLI, never a traceback)."""
from __future__ import annotations

from ..errors import UsageError


class PretrainDataError(UsageError):
    """A training or evaluation text file that is missing, empty or not allowed."""


class ResumeError(UsageError):
    """``--resume`` without a usable checkpoint, or with settings that do not match it."""
