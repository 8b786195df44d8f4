"""LLM2Vec: decoder-only LLMs as bidirectional text encoders.

``Encoder`` is imported lazily so that light users of the package (the CLI's
start-up, ``adaptation.errors`` in other layers) do not pay for importing torch.
"""
from typing import TYPE_CHECKING

from .errors import L2VError
from .lazy import lazy_exports

if TYPE_CHECKING:
    from .encoder import Encoder

__getattr__, _lazy = lazy_exports(__name__, {".encoder": ["Encoder"]})
__all__ = ["L2VError", *_lazy]
