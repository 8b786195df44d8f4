"""Encoder evaluation reports, as the UI reads them: through the indexer, which names the layer below.

The UI talks to ``indexer`` only; evaluation itself lives in ``adaptation.evaluation``.
"""
from __future__ import annotations

from pathlib import Path


def load_encoder_report(path: str | Path):
    """The ``adaptation.evaluation.Report`` saved at ``path`` (by ``l2v eval --out``); ``DataFormatError`` if
    it is missing or not a report."""
    from adaptation.evaluation import load_report

    return load_report(path)
