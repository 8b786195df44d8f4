"""The one row normalisation every layer uses (encoder output, FAISS input, evaluation scores).

Kept numpy-only so the indexer and evaluation can use it without importing torch.
"""
from __future__ import annotations

import numpy as np


def unit_rows(x) -> np.ndarray:
    """Rows scaled to unit length as a new 2-D float32 array (zero rows stay zero), so inner product == cosine."""
    x = np.atleast_2d(np.array(x, dtype=np.float32, copy=True))
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x
