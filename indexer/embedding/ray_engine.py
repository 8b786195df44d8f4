"""Embedding on a Ray cluster with Ray Data: the model work scales out, the database stays single-writer.

Only the embedding of pending chunks leaves this process. The driver (``l2v index --ray``) still walks
the folder, extracts, chunks and makes every SQLite/FAISS commit, exactly as without Ray; it puts the
pending ``(id, text)`` rows into Ray's object store block by block (its own memory stays bounded, Ray
spills to disk), and a ``map_batches`` stage over an actor pool (``ActorPoolStrategy``) embeds them:
each actor loads the encoder once (``num_gpus=1`` per actor on a GPU cluster, fractional CPUs
otherwise). Results come back in id order (``preserve_order``) and are committed as they arrive, so a
killed driver loses at most the vectors not yet committed -- the next run embeds exactly those.

Why not write from the workers: SQLite and the FAISS file have one writer by design (crash safety by
generations); vectors are small next to the model work that produced them.

Install with ``pip install 'l2v-search[ray]'``; every node needs l2v-search and the encoder directory
(or its hub id / package-index source) reachable at the same path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from .embedders import Embedder, LazyEmbedder, load_embedder
from .engines import Batch, Embedded
from ..errors import UsageError


@dataclass
class RayOptions:
    """How to reach the cluster and size the actor pool (saved with nothing: a run-time choice)."""

    address: str | None = None        # None: a local Ray started (and stopped) here; "auto", "HOST:PORT", "ray://HOST:10001"
    actors: int | None = None         # None: one per GPU in the cluster, else 2
    cpus_per_actor: float = 1.0       # may be fractional: on a small machine the driver needs a core too
    gpus_per_actor: float | None = None  # None: 1 when the cluster has GPUs, else 0
    batch_size: int = 32              # chunks per actor call (the encoder batches by tokens inside it)
    tasks_per_actor: int = 2          # batches queued per actor: 2 overlaps transfer with compute
    local_cpus: int | None = None     # only when starting a local Ray: the CPUs it may schedule
    actor_start_timeout_s: float = 600.0  # all actors up before work is dispatched, or a clear error


class EmbedActor:
    """One Ray Data actor: loads the encoder once, then embeds batches of ``{"id", "text"}`` rows."""

    def __init__(self, source: str | None, shipped: list | None, fingerprint: str, threads: int | None):
        if threads:
            try:
                import torch

                torch.set_num_threads(threads)
            except ImportError:  # a model-free embedder needs no torch
                pass
        if source is not None:
            self.embedder = load_embedder(source)
        else:
            import ray

            self.embedder = ray.get(shipped[0])  # wrapped in a list so Ray does not resolve it before __init__
        import os
        import socket

        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        if self.embedder.fingerprint != fingerprint:
            raise RuntimeError(f"the encoder at {source} on this Ray node has fingerprint "
                               f"{self.embedder.fingerprint}, the driver's is {fingerprint}: install the same "
                               "encoder on every node")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = np.asarray(self.embedder.encode_documents([str(t) for t in batch["text"]]), dtype=np.float32)
        return {"id": batch["id"], "vector": vectors, "worker": np.full(len(vectors), self.worker)}


def loadable_source(embedder: Embedder) -> str | None:
    """A source every node can load the same model from, or None when only the object itself will do."""
    if isinstance(embedder, LazyEmbedder):
        return embedder.source
    source = getattr(embedder, "source", None)
    return source if isinstance(source, str) and not source.startswith("<") else None


class RayEngine:
    """``EmbedEngine`` over Ray Data; connects on first use and disconnects only a Ray it started."""

    def __init__(self, options: RayOptions | None = None):
        self.options = options or RayOptions()
        self.workers: set[str] = set()   # "node:pid" of every actor that returned vectors (reported per run)

    def embed(self, embedder: Embedder, batches: Iterable[Batch]) -> Iterator[Embedded]:
        ray = _import_ray()
        started_here = self._connect(ray)
        try:
            refs = [ray.put(_table(ids, texts)) for ids, texts in batches if len(ids)]
            if not refs:
                return
            yield from self._stream(ray, embedder, refs)
        finally:
            if started_here:
                ray.shutdown()

    def _connect(self, ray) -> bool:
        if ray.is_initialized():
            return False
        import logging
        import os

        os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # silences a FutureWarning on CPU clusters
        logging.getLogger("ray.data").setLevel(logging.WARNING)          # our progress bar says what happens
        opts = self.options
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": True}
        if opts.address:
            kwargs["address"] = opts.address
        elif opts.local_cpus:
            kwargs["num_cpus"] = opts.local_cpus
        try:
            ray.init(**kwargs)
        except ConnectionError as err:
            raise UsageError(f"--ray {opts.address}: cannot reach a Ray cluster there ({err}); start one with "
                             "`ray start --head` or leave the address out for a local one") from None
        return True

    def _stream(self, ray, embedder: Embedder, refs: list) -> Iterator[Embedded]:
        from ray.data import ActorPoolStrategy, DataContext

        opts = self.options
        context = DataContext.get_current()
        context.execution_options.preserve_order = True   # committed in id order, like the in-process engine
        context.enable_progress_bars = False               # the builder shows its own bar
        context.print_on_execution_start = False
        context.wait_for_min_actors_s = opts.actor_start_timeout_s  # fair dispatch; no silent hang on a small cluster
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0.0))
        gpus = opts.gpus_per_actor if opts.gpus_per_actor is not None else (1.0 if cluster_gpus else 0.0)
        actors = opts.actors or (max(1, int(cluster_gpus // gpus)) if gpus else 2)
        _check_fits(ray, actors, opts.cpus_per_actor, gpus)
        actors = min(actors, len(refs))  # a small update needs no more actors than it has blocks
        source = loadable_source(embedder)
        shipped = None if source is not None else [ray.put(embedder)]
        threads = max(1, int(opts.cpus_per_actor)) if not gpus else None
        dataset = ray.data.from_arrow_refs(refs).map_batches(
            EmbedActor, fn_constructor_kwargs={"source": source, "shipped": shipped,
                                               "fingerprint": embedder.fingerprint, "threads": threads},
            batch_size=opts.batch_size, batch_format="numpy", compute=ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=opts.tasks_per_actor),
            num_cpus=opts.cpus_per_actor, num_gpus=gpus or None)
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
                self.workers.update(str(w) for w in set(batch["worker"].tolist()))
                yield np.asarray(batch["id"], dtype=np.int64), np.asarray(batch["vector"], dtype=np.float32)
        except ray.exceptions.GetTimeoutError:
            raise UsageError(f"Ray could not start {actors} embedding actors within {opts.actor_start_timeout_s:.0f} s; "
                             "lower --ray-actors or the per-actor CPUs/GPUs, or add nodes") from None


def _table(ids: np.ndarray, texts: list[str]):
    import pyarrow as pa

    return pa.table({"id": pa.array(np.asarray(ids, dtype=np.int64)), "text": pa.array(texts, type=pa.large_string())})


def _check_fits(ray, actors: int, cpus: float, gpus: float) -> None:
    """Refuse at once a pool the cluster can never hold (Ray would otherwise wait for resources)."""
    have = ray.cluster_resources()
    for kind, each, option in (("CPU", cpus, "--ray-cpus-per-actor"), ("GPU", gpus, "--ray-gpus-per-actor")):
        if actors * each > have.get(kind, 0.0) + 1e-9:
            raise UsageError(f"--ray-actors {actors} x {option} {each:g} needs {actors * each:g} {kind}s, the Ray "
                             f"cluster has {have.get(kind, 0.0):g}; lower them or add nodes")


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError("--ray needs Ray Data: pip install 'l2v-search[ray]'") from None
    return ray
