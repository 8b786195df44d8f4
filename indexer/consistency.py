"""The crash-safety invariant, checked against the files on disk (used by tests and `l2v status`)."""
from __future__ import annotations

import numpy as np
from sqlalchemy import select, text

from .layout import faiss_path
from .schema import Chunk, EncoderRow, Membership
from .vectors import VectorStore


def check(index) -> list[str]:
    """Read one SQLite snapshot, then the FAISS generation it names; a writer racing us causes a retry."""
    for attempt in range(5):
        problems = _check_once(index)
        if problems is not None:
            return problems
    return [f"could not read a stable snapshot of '{index.path}' (a writer kept replacing files)"]


def _check_once(index) -> list[str] | None:
    problems: list[str] = []
    with index.Session() as s, s.begin():  # one read transaction == one WAL snapshot
        chunk_ids = set(s.scalars(select(Chunk.id)))
        fts_ids = {r[0] for r in s.execute(text("SELECT rowid FROM chunks_fts"))}
        if fts_ids != chunk_ids:
            problems.append(f"full-text index differs from chunks: {len(fts_ids - chunk_ids)} extra, "
                            f"{len(chunk_ids - fts_ids)} missing")
        for row in s.scalars(select(EncoderRow).order_by(EncoderRow.id)):
            members = np.array(sorted(s.scalars(select(Membership.chunk_id).where(Membership.encoder_id == row.id))),
                               dtype=np.int64)
            orphans = set(members.tolist()) - chunk_ids
            if orphans:
                problems.append(f"encoder '{row.name}': {len(orphans)} memberships of chunks that do not exist")
            if row.generation == 0:
                if len(members):
                    problems.append(f"encoder '{row.name}': {len(members)} chunks marked indexed but no FAISS file")
                continue
            path = faiss_path(index.path, row.id, row.name, row.generation)
            if not path.is_file():
                return None  # superseded by a writer since our snapshot began: retry
            store = VectorStore.load(path, row.factory)
            ids = np.sort(store.ids())
            if len(np.unique(ids)) != len(ids):
                problems.append(f"encoder '{row.name}': duplicate ids in {path.name}")
            if store.dim != row.dim:
                problems.append(f"encoder '{row.name}': FAISS dim {store.dim} != recorded {row.dim}")
            extra, missing = np.setdiff1d(ids, members), np.setdiff1d(members, ids)
            if len(extra) or len(missing):
                problems.append(f"encoder '{row.name}': {path.name} has {len(extra)} ids not marked indexed "
                                f"(e.g. {extra[:3].tolist()}) and lacks {len(missing)} marked ones "
                                f"(e.g. {missing[:3].tolist()})")
    return problems
