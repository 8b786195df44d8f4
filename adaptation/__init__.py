"""LLM2Vec: decoder-only LLMs as bidirectional text encoders."""
from .encoder import Encoder
from .errors import L2VError

__all__ = ["Encoder", "L2VError"]
