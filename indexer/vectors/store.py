"""One encoder's FAISS index over any factory string; FAISS ids == chunks.id.

Flat, HNSW and PQ indexes live inside an ``IndexIDMap2``; IVF indexes store the ids
themselves (see ``indexer.ivf`` for why).

The CPU index is the source of truth and the only thing written to disk. With
faiss-gpu and a GPU, searches (and IVF training) run on a GPU copy made with
``index_cpu_to_all_gpus``. A factory that needs training (IVF, PQ) is *staged*: it
lives as an exact flat index until enough vectors exist to train on a sample, so
search works at every size and small corpora never hit a k-means error.

Filtered searches on approximate indexes are exact over the allowed ids when the
filter is narrow (or when the approximate search found fewer than k), so a filter
never silently drops hits: HNSW's graph walk and IVF's probed lists can miss every
allowed vector.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import faiss
import numpy as np

from adaptation.storage import atomic_file

from ..errors import FaissFileError, StorageError, UsageError, describe_storage_error
from .factories import factory_problem, faiss_reason, normalize_factory
from .gpus import GpuPlan, to_gpus, train_ivf_on_gpus
from .ivf import list_ids, unwrap_legacy, wrap_ids

TRAIN_POINTS_PER_CENTROID = 39      # faiss' own minimum recommendation
MAX_TRAIN_SAMPLE = 256 * 1024
EXACT_FILTER_MAX = 8192             # filters allowing at most this many vectors are searched exactly
EXACT_BATCH = 8192                  # vectors reconstructed at a time by the exact fallback


def make_inner(dim: int, factory: str) -> faiss.Index:
    try:
        return faiss.index_factory(dim, normalize_factory(factory), faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as err:
        first = faiss_reason(err)
        raise UsageError(f"--faiss '{factory}' is not a valid FAISS factory string ({first}); "
                         "try 'Flat', 'IVF1024,Flat', 'HNSW32' or 'IVF1024,PQ32'") from None


def _check_recorded(factory: str, dim: int | None = None) -> None:
    """A factory recorded by an older l2v (or a crafted database) that cannot work is reported, never run:
    ``HNSW0`` would abort the process. ``l2v index`` rebuilds such an index as Flat."""
    problem = factory_problem(factory, dim)
    if problem is not None:
        raise FaissFileError(f"its FAISS factory '{factory}' cannot work ({problem})")


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


def _trained(inner: faiss.Index, sample: np.ndarray) -> faiss.Index:
    """Train on the GPUs when there are any: IVF k-means over all of them (``clustering_index``), other
    factories on a one-GPU copy; else on the CPU. What comes back is always a CPU index."""
    plan = GpuPlan.from_environment()
    if train_ivf_on_gpus(inner, sample, plan):
        return inner
    gpu = to_gpus(inner, GpuPlan(plan.devices[:1])) if plan.devices else None
    if gpu is None:
        inner.train(sample)
        return inner
    gpu.train(sample)
    return faiss.index_gpu_to_cpu(gpu)


class VectorStore:
    """Add, remove, search and save one encoder's vectors (all float32, L2-normalized by the caller)."""

    def __init__(self, index: faiss.Index, factory: str):
        self.index = index          # IndexIDMap2(Flat | HNSW | PQ ...) or an IVF holding its own ids
        self.factory = normalize_factory(factory)
        self._gpu: faiss.Index | None = None
        self._dirty = True
        self._ids: np.ndarray | None = None
        self._sorted_ids: np.ndarray | None = None

    @classmethod
    def create(cls, dim: int, factory: str = "Flat") -> "VectorStore":
        _check_recorded(factory, dim)
        inner = make_inner(dim, factory)
        if not inner.is_trained:
            inner = faiss.IndexFlatIP(dim)  # staged until enough vectors exist to train
        _tune(inner)
        return cls(wrap_ids(inner), factory)

    @classmethod
    def load(cls, path: Path, factory: str) -> "VectorStore":
        """Read a FAISS file; ``FaissFileError`` if it is missing, unreadable or mislabels vectors."""
        path = Path(path)
        _check_recorded(factory)
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as err:
            if not path.is_file():
                raise FaissFileError(f"{path.name} is missing") from None
            detail = faiss_reason(err)
            raise FaissFileError(f"{path.name} is unreadable or corrupt ({detail})") from None
        if isinstance(index, faiss.IndexIDMap) and faiss.try_extract_index_ivf(faiss.downcast_index(index.index)):
            index = unwrap_legacy(index, path)
        elif faiss.try_extract_index_ivf(index) is not None:
            index = wrap_ids(index)
        store = cls(index, factory)
        _tune(store.inner)
        return store

    @property
    def inner(self) -> faiss.Index:
        """The index that does the work (what the id map wraps, or the IVF itself)."""
        return faiss.downcast_index(self.index.index) if isinstance(self.index, faiss.IndexIDMap) else self.index

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def staged(self) -> bool:
        """True while a trainable factory still runs as its exact flat stand-in."""
        return not make_inner(self.dim, self.factory).is_trained and isinstance(self.inner, faiss.IndexFlat)

    @property
    def exact(self) -> bool:
        """Does a search compare the query with every stored vector (Flat, or a staged factory)?"""
        return isinstance(self.inner, faiss.IndexFlat)

    def ids(self) -> np.ndarray:
        """All stored ids (id map order, or IVF list order); cached until the next add/remove."""
        if self._ids is None:
            if isinstance(self.index, faiss.IndexIDMap):
                self._ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            else:
                views = list_ids(faiss.try_extract_index_ivf(self.index))
                self._ids = np.concatenate(views).astype(np.int64) if views else np.zeros(0, np.int64)
        return self._ids

    def _changed(self) -> None:
        self._dirty, self._ids, self._sorted_ids = True, None, None

    def stored(self, ids: np.ndarray) -> np.ndarray:
        """The sorted unique ``ids`` this index holds (a chunk may be pending: in SQLite, not yet embedded)."""
        if self._sorted_ids is None:
            self._sorted_ids = np.sort(self.ids())
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        if not len(self._sorted_ids):
            return ids[:0]
        at = np.minimum(np.searchsorted(self._sorted_ids, ids), len(self._sorted_ids) - 1)
        return ids[self._sorted_ids[at] == ids]

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
            self._changed()

    def remove(self, ids) -> int:
        ids = np.asarray(list(ids), dtype=np.int64)
        if not len(ids) or not self.ntotal:
            return 0
        # an IVF's hashtable direct map looks each id up and accepts only an IDSelectorArray; an id map
        # tests each stored id for membership, which needs the hashed IDSelectorBatch to stay O(n)
        own_ids = not isinstance(self.index, faiss.IndexIDMap)
        selector = faiss.IDSelectorArray(ids) if own_ids else faiss.IDSelectorBatch(ids)
        try:
            removed = int(self.index.remove_ids(selector))
        except RuntimeError:  # HNSW cannot remove: rebuild from the kept vectors
            keep = np.setdiff1d(self.ids(), ids)
            removed = self.ntotal - len(keep)
            self._rebuild(keep, self.reconstruct(keep), train=False)
        self._changed()
        return removed

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (decoded, for compressed factories); every id must be stored."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, self.dim), "float32")
        if isinstance(self.index, faiss.IndexIDMap) and len(ids) * 2 >= self.ntotal:
            try:  # most of the index: one bulk copy when the inner index stores vectors (Flat, HNSW)
                everything = self.inner.reconstruct_n(0, self.ntotal)
            except RuntimeError:
                pass
            else:
                position = {int(i): p for p, i in enumerate(self.ids())}
                return everything[[position[int(i)] for i in ids]]
        return self.index.reconstruct_batch(ids)

    def _rebuild(self, ids: np.ndarray, vectors: np.ndarray, train: bool) -> None:
        inner = make_inner(self.dim, self.factory)
        if not inner.is_trained:
            if not train:  # keep the trained structure (e.g. PQ codebooks), drop its vectors
                inner = faiss.IndexFlatIP(self.dim) if self.staged else faiss.clone_index(self.inner)
                inner.reset()
            else:
                sample = vectors[np.random.default_rng(0).permutation(len(vectors))[:MAX_TRAIN_SAMPLE]]
                inner = _trained(inner, sample)
        _tune(inner)
        index = wrap_ids(inner)
        for start in range(0, len(ids), 65536):
            index.add_with_ids(np.ascontiguousarray(vectors[start:start + 65536]), ids[start:start + 65536])
        self.index = index
        self._changed()

    def maybe_train(self, final: bool = False) -> bool:
        """Train a staged factory once it has enough vectors (or, at the end of a run, at least one per centroid)."""
        if not self.staged:
            return False
        k = _centroids(make_inner(self.dim, self.factory))
        if self.ntotal < (k if final else TRAIN_POINTS_PER_CENTROID * k):
            return False
        ids = self.ids()
        self._rebuild(ids, self.reconstruct(ids), train=True)
        return True

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, nprobe: int | None = None,
               ef_search: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (n, k); missing hits have id -1.

        ``allowed`` restricts hits to those ids (filters); ``nprobe`` (IVF) and ``ef_search`` (HNSW)
        trade speed for recall for this search only (defaults: the values set at load). An approximate
        index answers a narrow filter exactly, and any filter exactly once its own search comes back short.
        """
        for name, value in (("nprobe", nprobe), ("ef_search", ef_search)):
            if value is not None and value < 1:
                raise UsageError(f"{name} must be at least 1, got {value}")
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if allowed is not None and not self.exact:
            allowed = self.stored(allowed)  # what the exact fallback can reconstruct, and how many hits exist
        if self.ntotal == 0 or (allowed is not None and len(allowed) == 0):
            n = len(queries)
            return np.zeros((n, k), "float32"), -np.ones((n, k), "int64")
        if allowed is not None and not self.exact and len(allowed) <= EXACT_FILTER_MAX:
            return self._exact_search(queries, k, allowed)
        params = self._search_parameters(allowed, nprobe, ef_search)
        if allowed is not None and not self.exact:
            scores, ids = self.index.search(queries, k, params=params)
            if ((ids >= 0).sum(axis=1) < min(k, len(allowed))).any():
                return self._exact_search(queries, k, allowed)
            return scores, ids
        if params is not None:
            return self.index.search(queries, k, params=params)  # per-search parameters: the CPU index
        if self._dirty:
            self._gpu, self._dirty = _gpu_copy(self.index), False
        return (self._gpu or self.index).search(queries, k)

    def _exact_search(self, queries: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inner products with every allowed stored vector (sorted ids), in batches; ties keep the lower id first."""
        n = len(queries)
        best_scores = np.full((n, 0), -np.inf, dtype=np.float32)
        best_ids = np.zeros((n, 0), dtype=np.int64)
        for start in range(0, len(allowed), EXACT_BATCH):
            batch = allowed[start:start + EXACT_BATCH]
            scores = np.concatenate([best_scores, queries @ self.reconstruct(batch).T], axis=1)
            ids = np.concatenate([best_ids, np.broadcast_to(batch, (n, len(batch)))], axis=1)
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # allowed is sorted: lower ids first
            best_scores = np.take_along_axis(scores, order, axis=1)
            best_ids = np.take_along_axis(ids, order, axis=1)
        missing = k - best_ids.shape[1]
        if missing > 0:
            best_scores = np.pad(best_scores, ((0, 0), (0, missing)))
            best_ids = np.pad(best_ids, ((0, 0), (0, missing)), constant_values=-1)
        return best_scores.astype(np.float32), best_ids

    def _search_parameters(self, allowed: np.ndarray | None, nprobe: int | None,
                           ef_search: int | None) -> faiss.SearchParameters | None:
        """Parameters of the inner index's own type (an IVF rejects plain ``SearchParameters``)."""
        if allowed is None and nprobe is None and ef_search is None:
            return None
        # the selector goes through the constructor, which keeps it alive as long as the parameters
        selector = {} if allowed is None else {"sel": faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))}
        inner = self.inner
        ivf = faiss.try_extract_index_ivf(inner)
        if ivf is not None:
            return faiss.SearchParametersIVF(nprobe=int(nprobe or ivf.nprobe), **selector)
        if hasattr(inner, "hnsw"):
            return faiss.SearchParametersHNSW(efSearch=int(ef_search or inner.hnsw.efSearch), **selector)
        return faiss.SearchParameters(**selector)

    def save(self, path: Path) -> None:
        """Atomic (``atomic_file``): a crash leaves the old or the new file; a failure (disk full) leaves
        no temp file and raises ``StorageError`` naming ``path``."""
        path = Path(path)
        try:
            with atomic_file(path) as tmp:
                faiss.write_index(self.index, str(tmp))
        except RuntimeError as err:  # faiss reports a failed fwrite as a RuntimeError
            raise StorageError(f"cannot write {path}: {faiss_reason(err)}") from err
        except OSError as err:  # name the file being written, not the removed temp file
            named = OSError(err.errno, err.strerror, str(path)) if err.errno else err
            raise StorageError(describe_storage_error(named)) from err


class StoredVectors:
    """A read-only view of one FAISS generation for whole-collection work (clustering): ids and float32
    rows in blocks, whatever the index type, so its users never touch FAISS."""

    def __init__(self, store: VectorStore):
        self._store = store

    @property
    def count(self) -> int:
        return self._store.ntotal

    @property
    def dim(self) -> int:
        return self._store.dim

    def ids(self) -> np.ndarray:
        """Chunk ids in the index's own order (the order ``blocks`` yields them in)."""
        return self._store.ids()

    def blocks(self, size: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) blocks of at most ``size`` rows, in ``ids()`` order."""
        ids = self._store.ids()
        for start in range(0, len(ids), size):
            part = ids[start:start + size]
            yield part, np.asarray(self._store.reconstruct(part), dtype=np.float32)
