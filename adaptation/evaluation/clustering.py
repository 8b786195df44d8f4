"""Clustering: mini-batch k-means with k = number of labels, scored by V-measure.

As MTEB's ClusteringFast: the (optionally limited) evaluation split is embedded
once, then ``clustering_runs`` bootstrap samples (with replacement, at most
``clustering_sample`` texts) are each clustered by ``MiniBatchKMeans(k,
batch_size=512, n_init=1)``; the main score is the mean V-measure.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics
from .base import EvalSettings, TaskResult, embed
from .data import read_labelled, seeded_sample, split_file
from .errors import DataFormatError


@dataclass
class ClusteringData:
    path: Path
    texts: list[str]
    labels: list[str]


def load(path: str | Path, split: str = "test") -> ClusteringData:
    """A labelled file (text + label/category), or a folder holding ``<split>.csv``."""
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: clustering file or folder not found")
    file = split_file(path, split)
    texts, labels = read_labelled(file)
    if len(set(labels)) < 2:
        raise DataFormatError(f"{file}: clustering needs at least two distinct labels")
    return ClusteringData(file, texts, labels)


def run(encoder, data: ClusteringData, settings: EvalSettings, instruction: str) -> TaskResult:
    from sklearn.cluster import MiniBatchKMeans

    start = time.perf_counter()
    rows = seeded_sample(len(data.texts), settings.limit, settings.seed)
    vectors = embed(encoder, [data.texts[i] for i in rows], instruction, settings)
    labels = np.asarray([data.labels[i] for i in rows])
    k = len(np.unique(labels))
    rng = np.random.default_rng(settings.seed)
    size = min(settings.clustering_sample, len(rows))
    scores = []
    for _ in range(settings.clustering_runs):
        sample = rng.choice(len(rows), size=size, replace=True)
        model = MiniBatchKMeans(n_clusters=k, batch_size=settings.kmeans_batch_size, n_init=1,
                                random_state=settings.seed)
        scores.append(metrics.v_measure(labels[sample], model.fit_predict(vectors[sample])))
    result = {"v_measure": float(np.mean(scores)), "v_measure_std": float(np.std(scores))}
    details = {"texts": int(len(rows)), "texts_total": len(data.texts), "k": int(k),
               "runs": settings.clustering_runs, "sample_size": int(size), "instruction": instruction}
    return TaskResult("clustering", "", "v_measure", result["v_measure"], result, details,
                      time.perf_counter() - start)
