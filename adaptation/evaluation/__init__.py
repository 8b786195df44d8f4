"""Evaluation of encoders on STS, retrieval, classification and clustering, offline, side by side.

``evaluate(encoders, tasks, settings)`` returns a ``Report``; ``load_report(path).to_rows()``
gives the comparison table the UI shows; ``MTEBEncoder`` adapts an encoder to the mteb package.
"""
from typing import TYPE_CHECKING

from adaptation.lazy import lazy_exports

if TYPE_CHECKING:
    from .base import EvalSettings, TaskResult
    from .report import Report, load_report, to_rows
    from .runner import EncoderSpec, TaskSpec, evaluate

__getattr__, __all__ = lazy_exports(__name__, {
    ".base": ["EvalSettings", "TaskResult"],
    ".report": ["Report", "load_report", "to_rows"],
    ".runner": ["EncoderSpec", "TaskSpec", "evaluate"],
})
