"""``Skip``: why a file cannot become text, raised by the extractors and by the safe reader."""
from __future__ import annotations


class Skip(Exception):
    """A file that cannot become text; ``reason`` is one word for the skipped table."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail
