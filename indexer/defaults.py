"""Where the bundled defaults live: the project's own encoder and sample documents.

They sit in the repository's ``data/`` folder (installed editable, as the README
says), so the product works offline out of the box.
"""
from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def default_encoder_path() -> Path | None:
    """The encoder used when no --encoder is given and the database records none."""
    path = DATA_DIR / "encoder"
    return path if (path / "encoder_config.json").is_file() else None


def sample_docs_path() -> Path | None:
    """The bundled folder of public-domain documents the demo indexes."""
    path = DATA_DIR / "sample-docs"
    return path if path.is_dir() else None
