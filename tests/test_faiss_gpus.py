"""FAISS over several GPUs: the sharded layout's CPU twin here, the real GPU layouts under `-m gpu`."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from indexer.vectors.gpus import GPUS_ENV, GpuPlan, cpu_shards, to_gpus, train_ivf_on_gpus

DIM = 32


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.choice(10**7, size=len(vectors), replace=False).astype(np.int64)   # sparse, like chunk ids after edits
    queries = vectors[rng.choice(len(vectors), 20, replace=False)] + 0.05 * rng.standard_normal((20, DIM)).astype(np.float32)
    return ids, vectors, np.ascontiguousarray(queries, dtype=np.float32)


def flat_with_ids() -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))


def reference(data) -> tuple[np.ndarray, np.ndarray]:
    ids, vectors, queries = data
    index = flat_with_ids()
    index.add_with_ids(vectors, ids)
    return index.search(queries, 10)


@pytest.mark.parametrize("n_shards", [2, 3])
def test_sharded_search_merges_to_the_single_index_results(data, n_shards):
    ids, vectors, queries = data
    want_scores, want_ids = reference(data)
    shards = cpu_shards(ids, vectors, n_shards, flat_with_ids)
    assert shards.ntotal == len(ids)
    scores, got = shards.search(queries, 10)
    assert (got == want_ids).all()
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)


def test_no_gpu_plan_without_gpus_or_when_switched_off(monkeypatch):
    monkeypatch.setenv(GPUS_ENV, "none")
    assert GpuPlan.from_environment().devices == ()
    assert to_gpus(flat_with_ids(), GpuPlan(())) is None
    if faiss.get_num_gpus() == 0:
        monkeypatch.setenv(GPUS_ENV, "all")
        assert GpuPlan.from_environment().devices == ()


needs_gpu = pytest.mark.skipif(not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0,
                               reason="needs faiss-gpu and a GPU")


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("shard", [False, True])
def test_gpu_layouts_equal_the_cpu_index(data, shard):
    ids, vectors, queries = data
    want_scores, want_ids = reference(data)
    cpu = flat_with_ids()
    cpu.add_with_ids(vectors, ids)
    gpu = to_gpus(cpu, GpuPlan(tuple(range(faiss.get_num_gpus())), shard=shard))
    assert gpu is not None and gpu.ntotal == len(ids)
    scores, got = gpu.search(queries, 10)
    assert (got == want_ids).mean() >= 0.99       # GPU float summation may swap near-ties
    np.testing.assert_allclose(scores, want_scores, atol=1e-4)


@pytest.mark.gpu
@needs_gpu
def test_ivf_trained_on_gpus_is_a_cpu_index_with_good_recall(data):
    ids, vectors, queries = data
    _, want_ids = reference(data)
    ivf = faiss.index_factory(DIM, "IVF16,Flat", faiss.METRIC_INNER_PRODUCT)
    assert train_ivf_on_gpus(ivf, vectors, GpuPlan(tuple(range(faiss.get_num_gpus()))))
    assert ivf.is_trained
    ivf.add_with_ids(vectors, ids)
    faiss.extract_index_ivf(ivf).nprobe = 16                 # all lists: exact
    _, got = ivf.search(queries, 10)
    assert (got == want_ids).mean() >= 0.99
    faiss.serialize_index(ivf)                               # plain CPU index: writable to disk
