"""The read methods the UI builds on (it imports nothing below the ``indexer`` facade)."""
from __future__ import annotations

import numpy as np

from indexer import Index, build_index
from indexer.store import queries

from indexer_helpers import hash_options, make_corpus, write_doc


def test_read_methods_answer_for_any_number_of_ids(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    make_corpus(docs, 12)
    (docs / "notes.txt").write_text("plain text notes about rivers and oceans\n")
    db = tmp_path / "db.l2v"
    build_index(docs, db, {"h": "hash:16"}, hash_options())
    monkeypatch.setattr(queries, "IN_BATCH", 5)   # every id list below spans several IN batches
    with Index.open(db) as idx:
        every = idx.documents()
        assert idx.document_types() == ["md", "txt"]
        by_id = idx.documents_by_id([d.id for d in every] + [10_000])
        assert sorted(by_id) == sorted(d.id for d in every)                  # the missing id is left out
        assert all(by_id[d.id] == d for d in every)                          # same info as documents()
        owner = idx.chunk_documents()
        chunks = idx.chunks(ids=list(reversed(sorted(owner))) + [10_000])
        assert [c.id for c in chunks] == list(reversed(sorted(owner)))       # asked order, missing dropped
        assert all(owner[c.id] == c.document_id for c in chunks)
        stored = idx.stored_vectors("h")
        blocks = list(stored.blocks(7))
        ids = np.concatenate([b[0] for b in blocks])
        assert stored.count == len(owner) == len(ids) and sorted(ids.tolist()) == sorted(owner)
        assert all(v.shape == (len(i), stored.dim) and v.dtype == np.float32 for i, v in blocks)
        np.testing.assert_allclose(np.linalg.norm(np.vstack([b[1] for b in blocks]), axis=1), 1.0, atol=1e-5)
        stamp = idx.generation_stamp("h")
    write_doc(docs / "b" / "new.md", 99)
    build_index(docs, db, options=hash_options())
    with Index.open(db) as idx:
        assert idx.generation_stamp("h") != stamp                            # new vectors, new cache key
        assert idx.generation_stamp("h") == idx.generation_stamp()            # None: the first encoder
