"""One encoder's FAISS index: ``IndexIDMap2`` over any factory string, ids == chunks.id.

The CPU index is the source of truth and the only thing written to disk. With
faiss-gpu and a GPU, searches (and IVF training) run on a GPU copy made with
``index_cpu_to_all_gpus``. A factory that needs training (IVF, PQ) is *staged*: it
lives as an exact flat index until enough vectors exist to train on a sample, so
search works at every size and small corpora never hit a k-means error.
"""
from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

from .errors import UsageError
from .faiss_gpus import GpuPlan, to_gpus
from .store import fsync_dir

TRAIN_POINTS_PER_CENTROID = 39      # faiss' own minimum recommendation
MAX_TRAIN_SAMPLE = 256 * 1024


def normalize_factory(factory: str) -> str:
    """'Flat', 'IDMap2,Flat', 'IVF1024,Flat', 'HNSW32', 'IVF256,PQ16' -> the part inside the id map."""
    factory = factory.strip()
    for prefix in ("IDMap2,", "IDMap,"):
        if factory.startswith(prefix):
            factory = factory[len(prefix):]
    return factory or "Flat"


def make_inner(dim: int, factory: str) -> faiss.Index:
    try:
        return faiss.index_factory(dim, normalize_factory(factory), faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[-1][:200]
        raise UsageError(f"--faiss '{factory}' is not a valid FAISS factory string ({first}); "
                         "try 'Flat', 'IVF1024,Flat', 'HNSW32' or 'IVF1024,PQ32'") from None


def _centroids(inner: faiss.Index) -> int:
    """The largest k-means the factory runs while training (IVF lists, PQ/SQ codebooks)."""
    ivf = faiss.try_extract_index_ivf(inner)
    k = int(ivf.nlist) if ivf is not None else 1
    for part in (inner, ivf):
        pq = getattr(faiss.downcast_index(part), "pq", None) if part is not None else None
        if pq is not None:
            k = max(k, int(pq.ksub))
    return k if k > 1 else 256


def _tune(inner: faiss.Index, nprobe: int | None = None, ef_search: int | None = None) -> None:
    ivf = faiss.try_extract_index_ivf(inner)
    if ivf is not None:
        ivf.nprobe = nprobe or min(ivf.nlist, 64, max(16, ivf.nlist // 16))
    hnsw = faiss.downcast_index(inner)
    if hasattr(hnsw, "hnsw"):
        hnsw.hnsw.efSearch = ef_search or 64


def _gpu_copy(index: faiss.Index) -> faiss.Index | None:
    """The index spread over the visible GPUs (replicated or sharded, see ``faiss_gpus``), or None."""
    return to_gpus(index, GpuPlan.from_environment())


class VectorStore:
    """Add, remove, search and save one encoder's vectors (all float32, L2-normalized by the caller)."""

    def __init__(self, index: faiss.Index, factory: str):
        self.index = index
        self.factory = normalize_factory(factory)
        self._gpu: faiss.Index | None = None
        self._dirty = True

    @classmethod
    def create(cls, dim: int, factory: str = "Flat") -> "VectorStore":
        inner = make_inner(dim, factory)
        if not inner.is_trained:
            inner = faiss.IndexFlatIP(dim)  # staged until enough vectors exist to train
        _tune(inner)
        return cls(faiss.IndexIDMap2(inner), factory)

    @classmethod
    def load(cls, path: Path, factory: str) -> "VectorStore":
        index = faiss.read_index(str(path))
        _tune(faiss.downcast_index(index.index))
        return cls(index, factory)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def staged(self) -> bool:
        """True while a trainable factory still runs as its exact flat stand-in."""
        return not make_inner(self.dim, self.factory).is_trained and \
            isinstance(faiss.downcast_index(self.index.index), faiss.IndexFlat)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
            self._dirty = True

    def remove(self, ids) -> int:
        ids = np.asarray(list(ids), dtype=np.int64)
        if not len(ids) or not self.ntotal:
            return 0
        try:
            removed = int(self.index.remove_ids(faiss.IDSelectorBatch(ids)))
        except RuntimeError:  # HNSW cannot remove: rebuild from the kept vectors
            keep = np.setdiff1d(self.ids(), ids)
            removed = self.ntotal - len(keep)
            self._rebuild(keep, self._reconstruct(keep), train=False)
        self._dirty = True
        return removed

    def _reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """Vectors of ``ids``: one bulk copy when the inner index stores them (Flat, HNSW), else one by one."""
        if not len(ids):
            return np.zeros((0, self.dim), "float32")
        try:
            everything = self.index.index.reconstruct_n(0, self.ntotal)
        except RuntimeError:
            return np.vstack([self.index.reconstruct(int(i)) for i in ids])
        position = {int(i): p for p, i in enumerate(self.ids())}
        return everything[[position[int(i)] for i in ids]]

    def _rebuild(self, ids: np.ndarray, vectors: np.ndarray, train: bool) -> None:
        inner = make_inner(self.dim, self.factory)
        if not inner.is_trained:
            if not train:  # keep the trained structure (e.g. PQ codebooks), drop its vectors
                inner = faiss.IndexFlatIP(self.dim) if self.staged else faiss.clone_index(self.index.index)
                inner.reset()
            else:
                sample = vectors[np.random.default_rng(0).permutation(len(vectors))[:MAX_TRAIN_SAMPLE]]
                gpu = _gpu_copy(inner)
                (gpu or inner).train(sample)
                if gpu is not None:
                    inner = faiss.index_gpu_to_cpu(gpu)
        _tune(inner)
        index = faiss.IndexIDMap2(inner)
        for start in range(0, len(ids), 65536):
            index.add_with_ids(np.ascontiguousarray(vectors[start:start + 65536]), ids[start:start + 65536])
        self.index = index
        self._dirty = True

    def maybe_train(self, final: bool = False) -> bool:
        """Train a staged factory once it has enough vectors (or, at the end of a run, at least one per centroid)."""
        if not self.staged:
            return False
        k = _centroids(make_inner(self.dim, self.factory))
        if self.ntotal < (k if final else TRAIN_POINTS_PER_CENTROID * k):
            return False
        ids = self.ids()
        self._rebuild(ids, self._reconstruct(ids), train=True)
        return True

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, nprobe: int | None = None,
               ef_search: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (n, k); missing hits have id -1.

        ``allowed`` restricts hits to those ids (filters); ``nprobe`` (IVF) and ``ef_search`` (HNSW)
        trade speed for recall for this search only (defaults: the values set at load).
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.ntotal == 0 or (allowed is not None and len(allowed) == 0):
            n = len(queries)
            return np.zeros((n, k), "float32"), -np.ones((n, k), "int64")
        params = self._search_parameters(allowed, nprobe, ef_search)
        if params is not None:
            return self.index.search(queries, k, params=params)  # per-search parameters: the CPU index
        if self._dirty:
            self._gpu, self._dirty = _gpu_copy(self.index), False
        return (self._gpu or self.index).search(queries, k)

    def _search_parameters(self, allowed: np.ndarray | None, nprobe: int | None,
                           ef_search: int | None) -> faiss.SearchParameters | None:
        for name, value in (("nprobe", nprobe), ("ef_search", ef_search)):
            if value is not None and value < 1:
                raise UsageError(f"{name} must be at least 1, got {value}")
        if allowed is None and nprobe is None and ef_search is None:
            return None
        # the selector goes through the constructor, which keeps it alive as long as the parameters
        selector = {} if allowed is None else {"sel": faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))}
        inner = faiss.downcast_index(self.index.index)
        if faiss.try_extract_index_ivf(inner) is not None and nprobe is not None:
            return faiss.SearchParametersIVF(nprobe=int(nprobe), **selector)
        if hasattr(inner, "hnsw") and ef_search is not None:
            return faiss.SearchParametersHNSW(efSearch=int(ef_search), **selector)
        return faiss.SearchParameters(**selector)

    def save(self, path: Path) -> None:
        """Atomic: temp file, fsync, rename, fsync the directory. A crash leaves the old or the new file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        faiss.write_index(self.index, str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
