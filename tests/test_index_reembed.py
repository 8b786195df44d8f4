"""Only changed chunks are embedded again: an edited document keeps its unchanged chunks' ids and vectors."""
from __future__ import annotations

import random

import numpy as np

from indexer import Index, build_index

from indexer_helpers import chunk_state, hash_options, paragraph, search_signature

OPTIONS = dict(chunk_tokens=64, overlap=8)


def write(doc, paragraphs: list[str]) -> None:
    doc.write_text("# Long notes\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")


def vectors_by_id(db, encoder: str = "h") -> dict[int, np.ndarray]:
    with Index.open(db) as idx:
        store = idx.vectors(encoder)
        ids = store.ids()
        return dict(zip(ids.tolist(), store.reconstruct(ids)))


def test_edits_embed_only_the_chunks_they_change(tmp_path):
    rng = random.Random(1)
    paragraphs = [paragraph(rng, "rivers", rng.randint(2, 5)) for _ in range(60)]
    docs, db = tmp_path / "docs", tmp_path / "db"
    docs.mkdir()
    doc = docs / "long.md"
    write(doc, paragraphs)
    (docs / "other.md").write_text("# Other\n\nMountains and glaciers.\n")
    first = build_index(docs, db, {"h": "hash:32"}, hash_options(**OPTIONS))
    assert first.chunks_embedded["h"] >= 49                      # a long document: ~50 chunks
    before = vectors_by_id(db)

    write(doc, paragraphs + ["A new closing paragraph about deltas and estuaries."])   # append a paragraph
    appended = build_index(docs, db, None, hash_options(**OPTIONS))
    assert appended.docs_changed == 1 and appended.chunks_embedded["h"] <= 3
    assert appended.chunks_reused >= first.chunks_embedded["h"] - 4

    paragraphs[10] += " One more sentence in an early paragraph."                     # edit inside a paragraph
    write(doc, paragraphs + ["A new closing paragraph about deltas and estuaries."])
    edited = build_index(docs, db, None, hash_options(**OPTIONS))
    assert edited.chunks_embedded["h"] <= 3 and edited.chunks_removed <= 3

    after = vectors_by_id(db)
    kept = set(before) & set(after)
    assert len(kept) >= len(before) - 6                             # unchanged chunks kept their ids ...
    assert all(np.array_equal(before[i], after[i]) for i in kept)   # ... and their vectors
    # the result is the database a clean build of the same folder gives
    build_index(docs, tmp_path / "clean", {"h": "hash:32"}, hash_options(**OPTIONS))
    assert chunk_state(db) == chunk_state(tmp_path / "clean")
    assert search_signature(db) == search_signature(tmp_path / "clean")
    with Index.open(db) as idx:
        assert idx.check_consistency() == []
        ordinals = [c.ordinal for c in idx.chunks(document_id=idx.document("long.md").id)]
        assert ordinals == list(range(len(ordinals)))               # positions follow the new text
