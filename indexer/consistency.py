"""The crash-safety invariant, checked against the files on disk (used by tests and `l2v status`).

Comparing id sets is not enough: an index can hold exactly the right ids under the wrong
vectors (the old ``IndexIDMap2``-around-IVF layout did after any removal), so a sample of
stored vectors is also searched again and must come back under its own id, with every
hit's score equal to the query's product with the vector stored under that hit's id.
"""
from __future__ import annotations

import faiss
import numpy as np
from sqlalchemy import select, text

from .errors import FaissFileError
from .store.layout import faiss_path
from .store.schema import Chunk, EncoderRow, Membership
from .vectors.store import VectorStore, faiss_reason

SAMPLE = 64         # vectors re-searched per encoder
TOLERANCE = 1e-3    # scores of compressed (PQ) codes are products of decoded vectors up to rounding


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
            try:
                store = VectorStore.load(path, row.factory)
            except FaissFileError as err:
                if _live_generation(index, row.id) != row.generation:
                    return None  # superseded by a writer since our snapshot began: retry
                problems.append(f"encoder '{row.name}': {err}")
                continue
            ids = np.sort(store.ids())
            if len(np.unique(ids)) != len(ids):
                problems.append(f"encoder '{row.name}': duplicate ids in {path.name}")
            if store.dim != row.dim:
                problems.append(f"encoder '{row.name}': FAISS dim {store.dim} != recorded {row.dim}")
                continue
            extra, missing = np.setdiff1d(ids, members), np.setdiff1d(members, ids)
            if len(extra) or len(missing):
                problems.append(f"encoder '{row.name}': {path.name} has {len(extra)} ids not marked indexed "
                                f"(e.g. {extra[:3].tolist()}) and lacks {len(missing)} marked ones "
                                f"(e.g. {missing[:3].tolist()})")
            mislabelled = verify_sample(store, np.unique(ids))
            if mislabelled:
                problems.append(f"encoder '{row.name}': {path.name} {mislabelled}")
    return problems


def _live_generation(index, encoder_id: int) -> int | None:
    with index.Session() as s:
        return s.scalar(select(EncoderRow.generation).where(EncoderRow.id == encoder_id))


def verify_sample(store: VectorStore, ids: np.ndarray, size: int = SAMPLE) -> str | None:
    """Re-search up to ``size`` stored vectors; None if all agree.

    Each hit's score must equal the query's product with what is stored under the hit's id. Where
    vectors are stored exactly and the search must reach them (Flat; IVF-Flat, whose quantizer sends
    a stored vector to the list it was added to, so a few probed lists suffice) a vector must also
    find itself (or k hits scoring at least as high: duplicates). A graph (HNSW) may legitimately
    leave a node unreachable and compressed codes (PQ) decode approximately, so not there.
    """
    if not len(ids):
        return None
    sample = np.sort(np.random.default_rng(0).choice(ids, size=min(size, len(ids)), replace=False))
    try:
        vectors = store.reconstruct(sample)
    except RuntimeError as err:
        return f"cannot read back its vectors ({faiss_reason(err)})"
    k = min(10, store.ntotal)
    ivf = faiss.try_extract_index_ivf(store.inner)
    scores, labels = store.search(vectors, k, nprobe=min(int(ivf.nlist), 4) if ivf is not None else None,
                                  ef_search=max(256, k))
    reaches_itself = store.exact or isinstance(store.inner, faiss.IndexIVFFlat)
    stored = set(store.ids().tolist())
    found = np.unique(labels[labels >= 0])
    if not set(found.tolist()) <= stored:
        return "returns ids it does not store"
    by_id = dict(zip(found.tolist(), store.reconstruct(found)))
    bad = 0
    for own_id, vector, row_scores, row_labels in zip(sample, vectors, scores, labels):
        valid = row_labels >= 0
        expected = np.array([vector @ by_id[int(i)] for i in row_labels[valid]], dtype=np.float32)
        self_score = float(vector @ vector)
        finds_itself = not reaches_itself or own_id in row_labels or \
            (valid.sum() == k and row_scores[valid].min() >= self_score - TOLERANCE)
        if not finds_itself or not np.allclose(row_scores[valid], expected, atol=TOLERANCE):
            bad += 1
    if bad:
        return (f"mislabels vectors: {bad} of {len(sample)} sampled vectors do not come back under their own id "
                "on a re-search")
    return None
