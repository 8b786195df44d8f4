"""FAISS across every visible GPU, as FAISS documents it; the file on disk is always a CPU index.

Two layouts (``index_cpu_to_all_gpus`` / ``index_cpu_to_gpus_list`` with ``GpuMultipleClonerOptions``):

* **replicated** (default): each GPU holds all vectors and answers a share of the queries
  (``IndexReplicas``) -- throughput scales with GPUs, capacity is one GPU's memory;
* **sharded** (``L2V_FAISS_SHARD=1``): each GPU holds 1/N of the vectors and every query goes to all
  of them, results merged by score (``IndexShards``) -- capacity scales with GPUs.

``L2V_FAISS_GPUS``: ``all`` (default), ``none``, or a list like ``0,2``. Searches with per-search
parameters (filters, nprobe, efSearch) run on the CPU index: GPU indexes take no ``IDSelector``.

IVF training on GPUs: the k-means assignment of a CPU IVF is done by a flat index spread over the
GPUs (``clustering_index``), FAISS' own recipe; the trained quantizer is an ordinary CPU index.

``cpu_shards`` builds the same sharded layout from CPU sub-indexes: the CPU twin that tests the
shard-and-merge logic on machines without a GPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import faiss
import numpy as np

GPUS_ENV = "L2V_FAISS_GPUS"
SHARD_ENV = "L2V_FAISS_SHARD"


@dataclass(frozen=True)
class GpuPlan:
    devices: tuple[int, ...]   # empty: stay on the CPU
    shard: bool = False

    @classmethod
    def from_environment(cls) -> "GpuPlan":
        available = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        wanted = os.environ.get(GPUS_ENV, "all").strip().lower()
        if available <= 0 or wanted in ("none", "off", ""):
            return cls(())
        if wanted == "all":
            devices = tuple(range(available))
        else:
            devices = tuple(int(d) for d in wanted.split(",") if d.strip() and int(d) < available)
        return cls(devices, os.environ.get(SHARD_ENV, "0") not in ("0", "", "false"))


def to_gpus(index: faiss.Index, plan: GpuPlan) -> faiss.Index | None:
    """A GPU copy of a CPU index laid out by ``plan``; None when the plan has no GPU or FAISS has no GPU kind."""
    if not plan.devices:
        return None
    options = faiss.GpuMultipleClonerOptions()
    options.shard = plan.shard
    options.common_ivf_quantizer = plan.shard   # sharded IVF: one quantizer, the lists split across GPUs
    try:
        if len(plan.devices) == faiss.get_num_gpus():
            return faiss.index_cpu_to_all_gpus(index, co=options)
        resources = [faiss.StandardGpuResources() for _ in plan.devices]
        return faiss.index_cpu_to_gpu_multiple_py(resources, index, co=options, gpus=list(plan.devices))
    except (RuntimeError, AttributeError):   # an index type without a GPU implementation stays on the CPU
        return None


def train_ivf_on_gpus(index: faiss.Index, sample: np.ndarray, plan: GpuPlan) -> bool:
    """Train an IVF (inside any wrapper) with its k-means assignment on the GPUs; False if none are used."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None or not plan.devices:
        return False
    flat = faiss.IndexFlatL2(ivf.d) if ivf.metric_type == faiss.METRIC_L2 else faiss.IndexFlatIP(ivf.d)
    clustering = to_gpus(flat, GpuPlan(plan.devices, shard=False))
    if clustering is None:
        return False
    ivf.clustering_index = clustering
    try:
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
    finally:
        ivf.clustering_index = None
    return True


def cpu_shards(ids: np.ndarray, vectors: np.ndarray, n_shards: int, make_empty) -> faiss.IndexShards:
    """``n_shards`` CPU indexes holding interleaved slices of (ids, vectors), searched as one: the CPU twin.

    ``make_empty()`` returns an empty, trained index of the same kind (with ids) for each shard.
    """
    shards = faiss.IndexShards(vectors.shape[1], True, False)   # threaded, keep each shard's own ids
    for s in range(n_shards):   # faiss' add_shard keeps a reference to each shard
        shard = make_empty()
        shard.add_with_ids(np.ascontiguousarray(vectors[s::n_shards], dtype=np.float32),
                           np.ascontiguousarray(ids[s::n_shards], dtype=np.int64))
        shards.add_shard(shard)
    return shards
