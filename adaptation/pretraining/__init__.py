"""Pretraining the project's own small decoder from scratch (``l2v pretrain``)."""
from .config import PretrainConfig
from .train import pretrain

__all__ = ["PretrainConfig", "pretrain"]
