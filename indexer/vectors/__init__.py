"""Vectors: one encoder's FAISS index, ids == ``chunks.id`` (add, remove, filtered search, atomic save),
with IVF id bookkeeping and the optional multi-GPU placement."""
from .factories import ACCEPTED, check_factory, factory_problem, normalize_factory
from .store import StoredVectors, VectorStore, faiss_reason

__all__ = ["ACCEPTED", "StoredVectors", "VectorStore", "check_factory", "factory_problem", "faiss_reason",
           "normalize_factory"]
