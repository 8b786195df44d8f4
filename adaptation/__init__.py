"""LLM2Vec: decoder-only LLMs as bidirectional text encoders.

``Encoder`` is imported lazily so that light users of the package (the CLI's
start-up, ``adaptation.errors`` in other layers) do not pay for importing torch.
"""
from typing import TYPE_CHECKING

from .errors import L2VError
from .lazy import lazy_exports

if TYPE_CHECKING:
    from .encoder import Encoder

__all__ = ["Encoder", "L2VError"]
__getattr__ = lazy_exports(__name__, {"Encoder": ".encoder"})
