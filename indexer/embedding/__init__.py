"""Embedding: chunks -> vectors. What the indexer needs from an encoder (``Embedder``), how an
``--encoder`` value becomes one, and the engines that run it (in this process, or Ray Data actors).

The Ray engine is imported on its own (``indexer.embedding.ray_engine``) so Ray stays optional.
"""
from .embedders import (Embedder, EncoderAdapter, LazyEmbedder, default_name, fingerprint_matches, load_embedder,
                        loaded_config, resolve_source)
from .engines import Batch, Embedded, InProcessEngine

__all__ = ["Batch", "Embedded", "Embedder", "EncoderAdapter", "InProcessEngine", "LazyEmbedder", "default_name",
           "fingerprint_matches", "load_embedder", "loaded_config", "resolve_source"]
