"""Where pending chunks get their vectors: in this process, or on a Ray cluster (``indexer.ray_engine``).

The builder hands an engine its pending chunks as ``(ids, texts)`` batches in id order and receives
``(ids, vectors)`` batches back: every id exactly once, with its vector, in pieces as the model finishes
them (the builder's progress bar and time-based commits move per piece); everything else (adding to the
FAISS store, committing membership rows with a new FAISS generation) stays in the builder, so there is
one writer and one crash-safety story whichever engine ran the model.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Protocol

import numpy as np


from .embedders import Embedder

Batch = tuple[np.ndarray, list[str]]          # chunk ids (int64), their texts
Embedded = tuple[np.ndarray, np.ndarray]      # chunk ids, float32 vectors (n, dim)


class EmbedEngine(Protocol):
    def embed(self, embedder: Embedder, batches: Iterable[Batch]) -> Iterator[Embedded]: ...


DEFAULT_MODEL_BATCH = 32   # texts per model call when the embedder does not say (EncoderAdapter's default)


class InProcessEngine:
    """The model runs here: the default, and the reference the others must equal.

    Each batch is embedded the embedder's own batch at a time (``batch_size``), longest texts first as
    ``Encoder.encode`` orders them (so pieces carry as little padding as the whole batch did), and every
    piece is yielded as soon as it is done: with 256 chunks per call, a CPU showed no progress for minutes.
    """

    def embed(self, embedder: Embedder, batches: Iterable[Batch]) -> Iterator[Embedded]:
        size = max(1, int(getattr(embedder, "batch_size", 0) or DEFAULT_MODEL_BATCH))
        for ids, texts in batches:
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
            for start in range(0, len(order), size):
                piece = order[start:start + size]
                vectors = embedder.encode_documents([texts[i] for i in piece])
                yield ids[piece], np.asarray(vectors, dtype=np.float32)
