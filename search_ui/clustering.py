"""Cluster all vectors of one encoder, project a sample to 2-D, label clusters by c-TF-IDF.

Assignments cover every vector (MiniBatchKMeans streamed over FAISS blocks, so 100k+
chunks fit); the map shows a sample (<= ``sample`` points) because a browser cannot
draw more usefully. HDBSCAN (density, finds its own k) runs on the sample and the
rest join the nearest cluster centre. UMAP is used only when ``umap`` is importable.
"""
from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import numpy as np

from .errors import UsageError

BLOCK = 16384
IN_MEMORY_BYTES = 1 << 30       # below this, fit k-means on all vectors at once


def umap_available() -> bool:
    return importlib.util.find_spec("umap") is not None


def hdbscan_available() -> bool:
    from sklearn import cluster

    return hasattr(cluster, "HDBSCAN")


@dataclass(frozen=True)
class ClusterParams:
    method: str = "kmeans"          # kmeans | hdbscan
    k: int = 8                      # k-means clusters (HDBSCAN: ignored)
    projection: str = "pca"         # pca | umap
    sample: int = 5000              # points drawn on the map
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("kmeans", "hdbscan"):
            raise UsageError(f"clustering method must be 'kmeans' or 'hdbscan', got '{self.method}'")
        if self.projection not in ("pca", "umap"):
            raise UsageError(f"projection must be 'pca' or 'umap', got '{self.projection}'")
        if self.method == "kmeans" and self.k < 2:
            raise UsageError(f"number of clusters must be at least 2, got {self.k}")
        if self.sample < 2:
            raise UsageError(f"map sample must be at least 2 points, got {self.sample}")

    def key(self) -> str:
        k = self.k if self.method == "kmeans" else 0
        return f"{self.method}:k={k}:{self.projection}:n={self.sample}:seed={self.seed}"

    def to_dict(self) -> dict:
        return asdict(self)


def iter_vectors(store, block: int = BLOCK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) blocks of the stored vectors (``Index.stored_vectors``), in index order."""
    return store.blocks(block)


def kmeans_all(store, k: int, seed: int = 0, progress: Callable[[float], None] | None = None):
    """(ids, labels, centres) for every vector of the store."""
    from sklearn.cluster import MiniBatchKMeans

    n = store.count
    k = min(k, n)
    model = MiniBatchKMeans(n_clusters=k, batch_size=4096, n_init=1, max_iter=20, random_state=seed)
    if n * store.dim * 4 <= IN_MEMORY_BYTES:
        ids, vectors = _all(store)
        labels = model.fit_predict(vectors) if k > 1 else np.zeros(n, np.int32)
        return ids, labels.astype(np.int32), model.cluster_centers_ if k > 1 else vectors.mean(0, keepdims=True)
    for epoch in range(2):      # streamed: two passes of partial_fit, then one pass to assign
        for i, (_, vectors) in enumerate(iter_vectors(store)):
            model.partial_fit(vectors)
            if progress:
                progress((epoch * n + min((i + 1) * BLOCK, n)) / (3 * n))
    ids, labels = [], []
    for block_ids, vectors in iter_vectors(store):
        ids.append(block_ids)
        labels.append(model.predict(vectors))
    return np.concatenate(ids), np.concatenate(labels).astype(np.int32), model.cluster_centers_


def _all(store) -> tuple[np.ndarray, np.ndarray]:
    parts = list(iter_vectors(store))
    if not parts:
        return np.zeros(0, np.int64), np.zeros((0, store.dim), np.float32)
    return np.concatenate([p[0] for p in parts]), np.vstack([p[1] for p in parts])


def sample_positions(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of a uniform sample (all when ``n <= size``)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def vectors_at(store, positions: np.ndarray) -> np.ndarray:
    """Vectors at FAISS positions (sorted), read block by block."""
    out = []
    for start, (block_ids, vectors) in zip(range(0, store.count, BLOCK), iter_vectors(store)):
        local = [p - start for p in positions[(positions >= start) & (positions < start + len(block_ids))]]
        if local:
            out.append(vectors[local])
    return np.vstack(out) if out else np.zeros((0, store.dim), np.float32)


def hdbscan_sample(vectors: np.ndarray, min_cluster_size: int | None = None) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    size = min_cluster_size or max(5, len(vectors) // 100)
    return HDBSCAN(min_cluster_size=size, copy=True).fit_predict(vectors).astype(np.int32)


def nearest_centre(store, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, labels) of every vector by its most similar centre (inner product)."""
    ids, labels = [], []
    for block_ids, vectors in iter_vectors(store):
        ids.append(block_ids)
        labels.append(np.argmax(vectors @ centres.T, axis=1))
    return np.concatenate(ids), np.concatenate(labels).astype(np.int32)


def project(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(n, 2) coordinates; PCA unless ``umap`` was asked for and is installed."""
    if len(vectors) < 3:
        return np.zeros((len(vectors), 2), np.float32)
    if method == "umap":
        if not umap_available():
            raise UsageError("UMAP is not installed; pip install 'l2v-search[umap]' or choose PCA")
        import umap

        return umap.UMAP(n_components=2, random_state=seed).fit_transform(vectors).astype(np.float32)
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(vectors).astype(np.float32)


def c_tfidf_terms(texts: dict[int, list[str]], top: int = 6) -> dict[int, list[str]]:
    """Most distinctive terms per cluster: class-based TF-IDF (BERTopic), tf_t,c * log(1 + A / f_t)."""
    from sklearn.feature_extraction.text import CountVectorizer

    classes = [c for c in sorted(texts) if texts[c]]
    if not classes:
        return {}
    docs = [" ".join(texts[c]) for c in classes]
    # terms in most clusters ("python", "use" in a folder of Python docs) describe the corpus, not a cluster
    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_][\w'-]{2,}\b",
                                 max_features=50000, max_df=0.5 if len(classes) >= 4 else 1.0)
    try:
        counts = vectorizer.fit_transform(docs).astype(np.float64).toarray()
    except ValueError:  # only stop words / no terms at all
        return {c: [] for c in classes}
    vocab = np.asarray(vectorizer.get_feature_names_out())
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    average = counts.sum() / len(classes)
    idf = np.log(1.0 + average / np.maximum(counts.sum(axis=0), 1.0))
    scores = tf * idf
    out = {}
    for row, c in enumerate(classes):
        order = np.argsort(-scores[row], kind="stable")
        out[c] = [str(vocab[i]) for i in order[:top] if scores[row, i] > 0]
    return out
