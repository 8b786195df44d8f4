"""Where pending chunks get their vectors: in this process, or on a Ray cluster (``indexer.ray_engine``).

The builder hands an engine its pending chunks as ``(ids, texts)`` batches in id order and receives
``(ids, vectors)`` batches back *in the same order*; everything else (adding to the FAISS store,
committing membership rows with a new FAISS generation) stays in the builder, so there is one
writer and one crash-safety story whichever engine ran the model.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Protocol

import numpy as np


from .embedders import Embedder

Batch = tuple[np.ndarray, list[str]]          # chunk ids (int64), their texts
Embedded = tuple[np.ndarray, np.ndarray]      # chunk ids, float32 vectors (n, dim)


class EmbedEngine(Protocol):
    def embed(self, embedder: Embedder, batches: Iterable[Batch]) -> Iterator[Embedded]: ...


class InProcessEngine:
    """The model runs here, one batch at a time: the default, and the reference the others must equal."""

    def embed(self, embedder: Embedder, batches: Iterable[Batch]) -> Iterator[Embedded]:
        for ids, texts in batches:
            yield ids, np.asarray(embedder.encode_documents(texts), dtype=np.float32)
