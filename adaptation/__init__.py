"""LLM2Vec: decoder-only LLMs as bidirectional text encoders.

``Encoder`` is imported lazily so that light users of the package (the CLI's
start-up, ``adaptation.errors`` in other layers) do not pay for importing torch.
"""
from typing import TYPE_CHECKING

from .errors import L2VError

if TYPE_CHECKING:
    from .encoder import Encoder

__all__ = ["Encoder", "L2VError"]


def __getattr__(name: str):
    if name == "Encoder":
        from .encoder import Encoder

        return Encoder
    raise AttributeError(f"module 'adaptation' has no attribute {name!r}")
