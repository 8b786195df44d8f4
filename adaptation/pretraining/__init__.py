"""Pretraining the project's own small decoder from scratch (``l2v pretrain``)."""
from typing import TYPE_CHECKING

from adaptation.lazy import lazy_exports

if TYPE_CHECKING:
    from .config import PretrainConfig
    from .train import pretrain

__getattr__, __all__ = lazy_exports(__name__, {".config": ["PretrainConfig"], ".train": ["pretrain"]})
