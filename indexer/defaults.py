"""Where the shipped default encoder lives (none yet; the lead will add one)."""
from __future__ import annotations

from pathlib import Path


def default_encoder_path() -> Path | None:
    """The encoder used when no --encoder is given and the database records none."""
    return None
