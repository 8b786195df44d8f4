"""One encoder's cluster map: compute it from the live FAISS store, or load it from the cache.

``cluster_map(index, encoder, params)`` returns a ``ClusterMap`` with a label for every
chunk, a sampled 2-D projection with titles/snippets for hover, and c-TF-IDF terms per
cluster. Everything the page needs for a reopen is in the cache entry.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import clustering as cl
from .clusters_cache import ClusterCache
from .errors import UIError

VERSION = 2            # bump when the clustering code changes what a cached map would hold
LABEL_TEXTS = 300      # chunk texts per cluster fed to c-TF-IDF
SNIPPET = 160


@dataclass
class ClusterMap:
    encoder: str
    params: cl.ClusterParams
    ids: np.ndarray             # every chunk id of the encoder (FAISS order)
    labels: np.ndarray          # cluster of each id (-1 = HDBSCAN noise)
    doc_ids: np.ndarray         # document of each id
    sample: np.ndarray          # positions (into ids) drawn on the map
    coords: np.ndarray          # (len(sample), 2)
    terms: dict[int, list[str]]
    titles: list[str]           # per sample point
    paths: list[str]
    snippets: list[str]
    seconds: float = 0.0
    cached: bool = False
    key: str = ""
    extra: dict = field(default_factory=dict)

    def sizes(self) -> dict[int, int]:
        values, counts = np.unique(self.labels, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}

    def label(self, cluster: int) -> str:
        if cluster < 0:
            return "noise"
        words = ", ".join(self.terms.get(cluster, [])[:4])
        return f"{cluster}: {words}" if words else str(cluster)

    def points(self) -> list[dict]:
        """Rows for the scatter chart (one per sampled chunk)."""
        labels = self.labels[self.sample]
        return [{"x": float(x), "y": float(y), "cluster": self.label(int(c)), "title": t, "path": p, "snippet": s}
                for (x, y), c, t, p, s in zip(self.coords, labels, self.titles, self.paths, self.snippets)]

    def cluster_documents(self, cluster: int) -> list[tuple[int, int]]:
        """(document id, chunks of it in the cluster), most chunks first."""
        docs, counts = np.unique(self.doc_ids[self.labels == cluster], return_counts=True)
        order = np.lexsort((docs, -counts))
        return [(int(docs[i]), int(counts[i])) for i in order]

    def arrays(self) -> dict[str, np.ndarray]:
        return {"ids": self.ids, "labels": self.labels, "doc_ids": self.doc_ids, "sample": self.sample,
                "coords": self.coords}

    def meta(self) -> dict:
        return {"encoder": self.encoder, "params": self.params.to_dict(),
                "terms": {str(k): v for k, v in self.terms.items()},
                "titles": self.titles, "paths": self.paths, "snippets": self.snippets, "seconds": self.seconds,
                "extra": self.extra}

    @classmethod
    def restore(cls, arrays: dict[str, np.ndarray], meta: dict, key: str) -> "ClusterMap":
        return cls(meta["encoder"], cl.ClusterParams(**meta["params"]), arrays["ids"], arrays["labels"],
                   arrays["doc_ids"], arrays["sample"], arrays["coords"], {int(k): v for k, v in meta["terms"].items()},
                   meta["titles"], meta["paths"], meta["snippets"], meta["seconds"], True, key, meta.get("extra", {}))


def cache_key(index, encoder: str, params: cl.ClusterParams) -> tuple[str, int]:
    """(key, generation): changes whenever the encoder's live vectors do."""
    info = next((e for e in index.encoders() if e.name == encoder), None)
    if info is None:
        raise UIError(f"no encoder '{encoder}' in this database")
    return f"v{VERSION}|{index.generation_stamp(encoder)}|{params.key()}", info.generation


def cluster_map(index, encoder: str, params: cl.ClusterParams, cache: ClusterCache | None = None,
                progress: Callable[[float, str], None] | None = None) -> ClusterMap:
    key, generation = cache_key(index, encoder, params)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return ClusterMap.restore(*hit, key=key)
    result = compute(index, encoder, params, progress)
    result.key = key
    if cache is not None and cache_key(index, encoder, params)[0] == key:  # no writer committed meanwhile
        cache.put(key, encoder, generation, result.arrays(), result.meta())
    return result


def compute(index, encoder: str, params: cl.ClusterParams,
            progress: Callable[[float, str], None] | None = None) -> ClusterMap:
    started = time.perf_counter()
    note = progress or (lambda fraction, text: None)
    store = index.stored_vectors(encoder)
    if store.count < 2:
        raise UIError(f"encoder '{encoder}' has {store.count} vectors; index more documents to draw clusters")
    note(0.05, "assigning clusters")
    sample = cl.sample_positions(store.count, params.sample, params.seed)
    sample_vectors = cl.vectors_at(store, sample)
    if params.method == "kmeans":
        ids, labels, _ = cl.kmeans_all(store, params.k, params.seed, lambda f: note(0.05 + 0.6 * f, "k-means"))
    else:
        sample_labels = cl.hdbscan_sample(sample_vectors)
        found = sorted(set(sample_labels.tolist()) - {-1})
        if not found:
            ids, labels = store.ids(), np.full(store.count, -1, np.int32)
        else:
            centres = np.vstack([sample_vectors[sample_labels == c].mean(0) for c in found])
            ids, near = cl.nearest_centre(store, centres)
            labels = np.asarray(found, np.int32)[near]
            labels[sample] = sample_labels     # sample points keep HDBSCAN's own verdict (noise included)
    note(0.7, "projecting the sample")
    coords = cl.project(sample_vectors, params.projection, params.seed)
    note(0.8, "reading chunk texts")
    doc_of, texts = index.chunk_documents(), {}
    rng = np.random.default_rng(params.seed)
    for c in sorted(set(labels.tolist()) - {-1}):
        members = np.flatnonzero(labels == c)
        picked = ids[rng.choice(members, size=min(LABEL_TEXTS, len(members)), replace=False)]
        texts[c] = [ch.text for ch in index.chunks(ids=picked.tolist())]
    note(0.9, "labelling clusters")
    terms = cl.c_tfidf_terms(texts)
    sample_chunks = {ch.id: ch for ch in index.chunks(ids=ids[sample].tolist())}
    titles = {i: d.title for i, d in index.documents_by_id(sorted({doc_of.get(int(i), -1) for i in ids[sample]})).items()}
    rows = [sample_chunks.get(int(i)) for i in ids[sample]]
    doc_ids = np.asarray([doc_of.get(int(i), -1) for i in ids], np.int64)
    return ClusterMap(encoder, params, ids, labels, doc_ids, sample, coords,
                      terms, [titles.get(r.document_id, "") if r else "" for r in rows],
                      [r.path if r else "" for r in rows], [_snippet(r.text) if r else "" for r in rows],
                      time.perf_counter() - started)


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[:SNIPPET].rsplit(" ", 1)[0] + "…"


def documents_by_id(index, doc_ids: list[int]) -> dict[int, tuple[str, str]]:
    """document id -> (title, path)."""
    return {i: (d.title, d.path) for i, d in index.documents_by_id(doc_ids).items()}
