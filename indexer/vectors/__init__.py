"""Vectors: one encoder's FAISS index, ids == ``chunks.id`` (add, remove, filtered search, atomic save),
with IVF id bookkeeping and the optional multi-GPU placement."""
from .store import StoredVectors, VectorStore, faiss_reason, normalize_factory

__all__ = ["StoredVectors", "VectorStore", "faiss_reason", "normalize_factory"]
