"""Cluster maps cached in a sidecar SQLite file (``DB/ui_cache.sqlite``) so reopening is instant.

A sidecar rather than a table in ``metadata.sqlite``: the UI never writes to the
indexer's database (no contention with a running ``l2v index``, no schema coupling).
Entries are keyed by encoder name + fingerprint + FAISS generation + the FAISS file's
mtime and size + the clustering parameters: any commit of new vectors, a rebuild or a
different k gives a new key; older generations of an encoder are dropped on write.
"""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
from sqlalchemy import Column, Float, Integer, LargeBinary, MetaData, String, Table, Text, create_engine, delete, \
    select
from sqlalchemy.exc import OperationalError

CACHE_NAME = "ui_cache.sqlite"
metadata = MetaData()
maps = Table("cluster_maps", metadata,
             Column("key", String, primary_key=True),
             Column("encoder", String, index=True),
             Column("generation", Integer),
             Column("created", Float),
             Column("arrays", LargeBinary),      # npz
             Column("meta", Text))               # json


class ClusterCache:
    """get/put of (arrays, meta); a read-only database directory degrades to no caching."""

    def __init__(self, db: str | Path):
        self.path = Path(db) / CACHE_NAME
        self.engine = create_engine(f"sqlite:///{self.path}", future=True)
        self.writable = True
        try:
            metadata.create_all(self.engine)
        except OperationalError:
            self.writable = False

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        if not self.writable:
            return None
        try:
            with self.engine.connect() as conn:
                row = conn.execute(select(maps.c.arrays, maps.c.meta).where(maps.c.key == key)).first()
        except OperationalError:
            return None
        if row is None:
            return None
        with np.load(io.BytesIO(row.arrays), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        return arrays, json.loads(row.meta)

    def put(self, key: str, encoder: str, generation: int, arrays: dict[str, np.ndarray], meta: dict) -> bool:
        if not self.writable:
            return False
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(maps).where((maps.c.encoder == encoder) & (maps.c.generation != generation)))
                conn.execute(delete(maps).where(maps.c.key == key))
                conn.execute(maps.insert().values(key=key, encoder=encoder, generation=generation, created=time.time(),
                                                  arrays=buf.getvalue(), meta=json.dumps(meta)))
        except OperationalError:
            self.writable = False
            return False
        return True

    def keys(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(maps.c.key))]

    def close(self) -> None:
        self.engine.dispose()
