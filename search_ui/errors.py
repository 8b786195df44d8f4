"""User-facing errors of the UI (shown with ``st.error``; the CLI prints them on one line)."""
from __future__ import annotations

from indexer import L2VError, UsageError


class UIError(L2VError):
    exit_code = 20


class PathOutsideRootError(UIError):
    """A document path that resolves outside the indexed root (``..``, absolute path, symlink)."""

    exit_code = 21


__all__ = ["UIError", "PathOutsideRootError", "UsageError", "L2VError"]
