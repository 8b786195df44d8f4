"""Indexing a folder: exact search, incremental updates, several encoders, options and refusals."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from indexer import Index, build_index
from indexer.errors import ChunkingMismatchError, EncoderMismatchError, IndexLockedError, NoEncoderError, UsageError
from indexer.store.database import writer_lock
from l2v_doubles import HashEmbedder

from indexer_helpers import QUERIES, chunk_state, faiss_members, hash_options, make_corpus, write_doc


def _ids_by_path(idx: Index) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for doc in idx.documents():
        out[doc.path] = {c.id for c in idx.chunks(document_id=doc.id)}
    return out


def test_exact_search_equals_brute_force_cosine(tmp_path):
    make_corpus(tmp_path / "docs", 16)
    emb = HashEmbedder(dim=48)
    build_index(tmp_path / "docs", tmp_path / "db", {"h": emb}, hash_options())
    with Index.open(tmp_path / "db") as idx:
        chunks = idx.chunks()
        assert len(chunks) > 40
        ids = np.array([c.id for c in chunks])
        vectors = emb.encode_documents([c.text for c in chunks])
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for query in QUERIES:
            q = emb.encode_queries([query])[0]
            cosine = vectors @ (q / np.linalg.norm(q))
            order = np.argsort(-cosine, kind="stable")[:11]
            hits = idx.search(query, k=10)
            assert [h.rank for h in hits] == list(range(1, 11))
            np.testing.assert_allclose([h.score for h in hits], cosine[order[:10]], rtol=1e-5, atol=1e-5)
            c = cosine[order]  # a position is determined when its score is not tied with a neighbour
            distinct = [i for i in range(10) if (i == 0 or c[i - 1] - c[i] > 1e-5) and c[i] - c[i + 1] > 1e-5]
            assert len(distinct) >= 3
            assert [hits[i].chunk_id for i in distinct] == [int(ids[order[i]]) for i in distinct]
            for h in hits:  # every result carries its own text, offsets and document
                assert h.text == next(c.text for c in chunks if c.id == h.chunk_id)
                assert h.path.endswith(".md") and h.doc_type == "md" and h.end - h.start >= len(h.text.strip())
        # filtered search equals brute force restricted to the allowed documents
        allowed = np.array([c.path.startswith("a/") for c in chunks])
        q = emb.encode_queries([QUERIES[0]])[0]
        cosine = np.where(allowed, vectors @ (q / np.linalg.norm(q)), -np.inf)
        hits = idx.search(QUERIES[0], k=5, where={"path": "a/**"})
        assert all(h.path.startswith("a/") for h in hits) and len(hits) == 5
        np.testing.assert_allclose([h.score for h in hits], np.sort(cosine)[::-1][:5], rtol=1e-5, atol=1e-5)
        assert idx.search(QUERIES[0], k=5, where={"type": "txt"}) == []


def test_chunk_offsets_point_into_the_document(tmp_path):
    paths = make_corpus(tmp_path / "docs", 6)
    build_index(tmp_path / "docs", tmp_path / "db", {"h": "hash:32"}, hash_options())
    with Index.open(tmp_path / "db") as idx:
        for doc in idx.documents():
            text = (tmp_path / "docs" / doc.path).read_text()
            assert doc.title.startswith("Document ")  # first Markdown heading
            chunks = idx.chunks(document_id=doc.id)
            assert [c.ordinal for c in chunks] == list(range(len(chunks)))
            for c in chunks:
                assert text[c.start:c.end] == c.text and 0 < c.n_tokens <= 32
            assert chunks[0].start <= 2 and chunks[-1].end >= len(text.rstrip()) - 1  # covers the whole document
    assert len(paths) == 6


def test_incremental_edit_delete_add_touch_with_two_encoders(tmp_path):
    docs = tmp_path / "docs"
    paths = make_corpus(docs, 12)
    h1, h2 = HashEmbedder(dim=32), HashEmbedder(dim=40, seed=1)
    first = build_index(docs, tmp_path / "db", {"h1": h1, "h2": h2}, hash_options())
    n_chunks = first.chunks_added
    assert first.chunks_embedded == {"h1": n_chunks, "h2": n_chunks} and h1.calls == n_chunks
    with Index.open(tmp_path / "db") as idx:
        before = _ids_by_path(idx)
        assert set(faiss_members(idx, "h1")) == set(faiss_members(idx, "h2")) == set().union(*before.values())

    again = build_index(docs, tmp_path / "db", {"h1": h1, "h2": h2}, hash_options())
    assert again.chunks_embedded == {"h1": 0, "h2": 0} and again.docs_unchanged == 12 and h1.calls == n_chunks

    edited, deleted, touched = paths[1], paths[2], paths[3]
    write_doc(edited, 101, paragraphs=4)
    deleted.unlink()
    added = write_doc(docs / "c" / "new.md", 202)
    touched.write_text(touched.read_text())  # new mtime, same bytes
    rel = lambda p: p.relative_to(docs).as_posix()  # noqa: E731
    report = build_index(docs, tmp_path / "db", {"h1": h1, "h2": h2}, hash_options())
    assert (report.docs_added, report.docs_changed, report.docs_deleted) == (1, 1, 1)
    assert report.docs_unchanged == 10  # including the touched file
    with Index.open(tmp_path / "db") as idx:
        after = _ids_by_path(idx)
        new_ids = after[rel(edited)] | after[rel(added)]
        assert report.chunks_embedded == {"h1": len(new_ids), "h2": len(new_ids)}
        assert report.chunks_removed == len(before[rel(edited)]) + len(before[rel(deleted)])
        assert rel(deleted) not in after
        assert not after[rel(edited)] & before[rel(edited)]  # old chunks left, new ones have new ids
        for path in set(before) - {rel(edited), rel(deleted)}:
            assert after[path] == before[path]  # untouched (and touched) documents keep their chunk ids
        everything = set().union(*after.values())
        for name in ("h1", "h2"):  # identical chunk ids in every FAISS index, nothing stale
            assert set(faiss_members(idx, name)) == everything
        assert idx.check_consistency() == []
        runs = idx.runs()
        assert [r.status for r in runs] == ["done"] * 3 and runs[0].chunks_embedded == 2 * len(new_ids)

    # an update through one encoder removes old chunks from *every* index; the other catches up later
    write_doc(edited, 303)
    build_index(docs, tmp_path / "db", {"h1": h1}, hash_options())
    with Index.open(tmp_path / "db") as idx:
        infos = {e.name: e for e in idx.encoders()}
        assert infos["h1"].n_pending == 0 and infos["h2"].n_pending == len(idx.chunks(document_id=idx.documents(
            where={"path": rel(edited)})[0].id))
        assert set(faiss_members(idx, "h2")) <= {c.id for c in idx.chunks()}
        assert idx.check_consistency() == []
    catch_up = build_index(docs, tmp_path / "db", None, hash_options())  # None: the recorded encoders
    assert catch_up.chunks_embedded["h1"] == 0 and catch_up.chunks_embedded["h2"] == infos["h2"].n_pending
    assert chunk_state(tmp_path / "db") == _clean_state(docs, tmp_path / "clean")


def _clean_state(docs, db):
    build_index(docs, db, {"h": "hash:32"}, hash_options())
    return chunk_state(db)


def test_refusals_have_clear_messages(tmp_path, monkeypatch):
    import indexer.defaults

    make_corpus(tmp_path / "docs", 3)
    db = tmp_path / "db"
    monkeypatch.setattr(indexer.defaults, "default_encoder_path", lambda: None)  # as in a checkout without data/
    with pytest.raises(NoEncoderError, match="--encoder"):
        build_index(tmp_path / "docs", db, None, hash_options())
    monkeypatch.undo()
    build_index(tmp_path / "docs", db, {"h": HashEmbedder(dim=32)}, hash_options())
    with pytest.raises(EncoderMismatchError, match="--name.*--rebuild"):
        build_index(tmp_path / "docs", db, {"h": HashEmbedder(dim=32, seed=7)}, hash_options())
    with pytest.raises(ChunkingMismatchError, match="--chunk-tokens 32"):
        build_index(tmp_path / "docs", db, None, hash_options(chunk_tokens=64))
    with pytest.raises(UsageError, match="--rebuild"):
        build_index(tmp_path / "docs", db, None, hash_options(factory="HNSW16"))
    make_corpus(tmp_path / "other", 2)
    with pytest.raises(UsageError, match="indexes"):
        build_index(tmp_path / "other", db, None, hash_options())
    with pytest.raises(UsageError, match="not a valid FAISS factory"):
        build_index(tmp_path / "docs", tmp_path / "db2", {"h": "hash:32"}, hash_options(factory="Bogus42"))
    with pytest.raises(UsageError, match="--overlap"):
        hash_options(chunk_tokens=16, overlap=12) and build_index(tmp_path / "docs", tmp_path / "db3", {"h": "hash:32"},
                                                                  hash_options(chunk_tokens=16, overlap=12))
    # --rebuild replaces everything, including the refused encoder and chunking
    report = build_index(tmp_path / "docs", db, {"h": HashEmbedder(dim=32, seed=7)},
                         hash_options(chunk_tokens=64, rebuild=True))
    assert report.docs_added == 3
    with Index.open(db) as idx:
        assert idx.status().chunk_tokens == 64 and idx.encoders()[0].fingerprint == HashEmbedder(32, 7).fingerprint
        with pytest.raises(UsageError, match="choose one of: h"):
            idx.search("x", encoder="nope")


def test_second_writer_refused_while_readers_keep_working(tmp_path):
    make_corpus(tmp_path / "docs", 4)
    db = tmp_path / "db"
    build_index(tmp_path / "docs", db, {"h": "hash:32"}, hash_options())
    with writer_lock(db):
        with pytest.raises(IndexLockedError, match="being updated by pid"):
            build_index(tmp_path / "docs", db, None, hash_options())
        with Index.open(db) as idx:
            assert len(idx.search("rivers", k=3)) == 3 and idx.check_consistency() == []
    build_index(tmp_path / "docs", db, None, hash_options())  # the lock is released again


def test_readers_during_a_real_update(tmp_path):
    docs = tmp_path / "docs"
    make_corpus(docs, 10)
    db = tmp_path / "db"
    build_index(docs, db, {"h": "hash:32"}, hash_options())
    make_corpus(docs, 50, paragraphs=4, start=10)
    errors: list[BaseException] = []
    writer = threading.Thread(target=lambda: build_index(docs, db, None, hash_options(batch_docs=2, commit_chunks=8)))
    writer.start()
    seen = set()
    with Index.open(db) as idx:
        while writer.is_alive() or not seen:
            try:
                hits = idx.search("mountains and rivers", k=5)
                assert len(hits) == 5
                assert idx.check_consistency() == []
                seen.add(idx.status(check=False).n_chunks)
            except BaseException as err:  # noqa: BLE001 - collected and re-raised below
                errors.append(err)
                break
    writer.join()
    assert not errors, errors[0]
    assert len(seen) > 1  # the reader saw the index grow while the writer committed batches


@pytest.mark.parametrize("factory", ["IVF4,Flat", "HNSW8", "IVF2,PQ4x4"])
def test_approximate_factories_train_remove_and_stay_consistent(tmp_path, factory):
    docs = tmp_path / "docs"
    paths = make_corpus(docs, 40, paragraphs=4)
    db = tmp_path / "db"
    build_index(docs, db, {"h": "hash:32"}, hash_options(factory=factory))
    with Index.open(db) as idx:
        store = idx.vectors()
        enough = store.ntotal >= (16 if "PQ" in factory else 4)
        assert store.staged is (not enough and "IVF" in factory)
        assert idx.encoders()[0].factory == factory
        top = idx.search(QUERIES[0], k=5)
        assert len(top) == 5
    for p in paths[:5]:
        p.unlink()
    build_index(docs, db, None, hash_options())
    with Index.open(db) as idx:
        assert idx.check_consistency() == []
        assert set(faiss_members(idx, "h")) == {c.id for c in idx.chunks()}


def test_hybrid_finds_rare_words_and_fuses_scores(tmp_path):
    from indexer.ranking import rrf

    docs = tmp_path / "docs"
    make_corpus(docs, 10)
    (docs / "rare.txt").write_text("Nothing here but the zyzzyva beetle, a rare word.\n")
    build_index(docs, tmp_path / "db", {"h": "hash:32"}, hash_options())
    with Index.open(tmp_path / "db") as idx:
        hits = idx.search("zyzzyva", k=3, hybrid=True)
        assert hits[0].path == "rare.txt" and hits[0].bm25_rank == 1 and hits[0].dense_score is not None
        assert idx.hybrid_dense_weight() == 0.5                          # the HashEmbedder records no weight
        assert hits[0].score == pytest.approx(1.0)                       # first in both rankings
        assert all(0.0 <= h.score <= 1.0 for h in hits) and hits == sorted(hits, key=lambda h: -h.score)
        assert idx.search("zyzzyva", k=3, hybrid=True, where={"type": "md"})[0].path != "rare.txt"
        assert idx.search('"; DROP TABLE chunks; --', k=2, hybrid=True)  # user text never breaks FTS syntax
    fused = rrf([[1, 2, 3], [3, 1]])
    assert [i for i, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_hybrid_dense_weight_moves_between_the_two_rankings(tmp_path):
    from indexer.store.queries import bm25
    from indexer.ranking import rrf

    assert [i for i, _ in rrf([[1, 2], [2, 1]], weights=[0.25, 0.75])] == [2, 1]
    assert [i for i, _ in rrf([[1, 2], [3, 2]], weights=[1.0, 0.0])][:2] == [1, 2]
    docs = tmp_path / "docs"
    make_corpus(docs, 12)
    build_index(docs, tmp_path / "db", {"h": "hash:32"}, hash_options())
    with Index.open(tmp_path / "db") as idx:
        query = QUERIES[0]
        dense = [h.chunk_id for h in idx.search(query, k=50)]
        with idx.Session() as s:
            lexical = bm25(s, query, 50)
        assert dense[:5] != lexical[:5]                                  # the two rankings disagree here
        assert [h.chunk_id for h in idx.search(query, k=5, hybrid=True, dense_weight=1.0)] == dense[:5]
        assert [h.chunk_id for h in idx.search(query, k=5, hybrid=True, dense_weight=0.0)] == lexical[:5]
        with pytest.raises(UsageError, match="between 0 and 1"):
            idx.search(query, hybrid=True, dense_weight=1.5)


def test_document_lookup_by_id_and_path(tmp_path):
    make_corpus(tmp_path / "docs", 3)
    build_index(tmp_path / "docs", tmp_path / "db", {"h": "hash:32"}, hash_options())
    with Index.open(tmp_path / "db") as idx:
        doc = idx.document("a/doc001.md")
        assert doc is not None and idx.document(doc.id) == doc and doc.n_chunks == len(idx.chunks(document_id=doc.id))
        assert idx.document("missing.md") is None
        with pytest.raises(UsageError, match="dimensions"):
            idx.search_vector(np.ones(7, dtype=np.float32))


@pytest.mark.gpu
def test_gpu_search_matches_cpu(tmp_path):
    import faiss

    if faiss.get_num_gpus() == 0:
        pytest.skip("needs faiss-gpu and a CUDA GPU")
    from indexer.vectors.store import VectorStore

    rng = np.random.default_rng(0)
    data = rng.standard_normal((5000, 64)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    store = VectorStore.create(64, "Flat")
    store.add(np.arange(5000) + 1, data)
    scores, ids = store.search(data[:20], 5)  # runs on the GPU copy
    cpu_scores, cpu_ids = store.index.search(data[:20], 5)
    np.testing.assert_allclose(scores, cpu_scores, atol=1e-4)
    assert (ids[:, 0] == np.arange(20) + 1).all()
    store.save(tmp_path / "x.faiss")
    assert "Gpu" not in type(faiss.read_index(str(tmp_path / "x.faiss"))).__name__


def test_editing_many_files_rewrites_faiss_a_bounded_number_of_times(tmp_path):
    """Batches that remove vectors rewrite whole FAISS files, so they grow with the database:
    editing 24 of 80 files is one phase-1 generation (limit 0.5 x 80 known documents), not six
    4-document batches."""
    folder, encoders = tmp_path / "docs", {"h": "hash:32"}
    paths = make_corpus(folder, 80, paragraphs=2)
    options = hash_options(commit_chunks=100_000, commit_growth=0.5)   # phase 2 commits once, at the end
    build_index(folder, tmp_path / "db", encoders, options)
    with Index.open(tmp_path / "db") as idx:
        before = idx.encoders()[0].generation
    for i, path in enumerate(paths[:24]):
        write_doc(path, 900 + i, paragraphs=3)
    report = build_index(folder, tmp_path / "db", encoders, options)
    with Index.open(tmp_path / "db") as idx:
        assert idx.check_consistency() == []
        assert idx.encoders()[0].generation - before == 2      # one removal commit + one embedding commit
    assert report.docs_changed == 24
    build_index(folder, tmp_path / "clean", encoders, options)
    assert chunk_state(tmp_path / "db") == chunk_state(tmp_path / "clean")


def test_search_time_recall_knobs_against_brute_force():
    """nprobe (IVF) and ef_search (HNSW) per search: all lists / a wide beam give the exact answer."""
    from indexer.vectors.store import VectorStore

    rng = np.random.default_rng(3)
    data = rng.standard_normal((4000, 16)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = data[:50] + 0.3 * rng.standard_normal((50, 16)).astype(np.float32)
    ids = np.arange(1, 4001, dtype=np.int64)
    exact = ids[np.argsort(-(queries @ data.T), axis=1)[:, :10]]

    def recall(found):
        return np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])

    ivf = VectorStore.create(16, "IVF64,Flat")
    ivf.add(ids, data)
    assert ivf.maybe_train(final=True)
    assert recall(ivf.search(queries, 10, nprobe=1)[1]) < 0.9
    assert recall(ivf.search(queries, 10, nprobe=64)[1]) == 1.0
    hnsw = VectorStore.create(16, "HNSW4")
    hnsw.add(ids, data)
    low, high = recall(hnsw.search(queries, 10, ef_search=10)[1]), recall(hnsw.search(queries, 10, ef_search=1000)[1])
    assert low < high and high >= 0.99, (low, high)
    # a filter and a knob together: only allowed ids, exactly the best allowed ones
    allowed = ids[::3]
    _, found = ivf.search(queries[:5], 10, allowed=allowed, nprobe=64)
    mask = np.isin(ids, allowed)
    best = ids[mask][np.argsort(-(queries[:5] @ data[mask].T), axis=1)[:, :10]]
    assert (found == best).all()
    with pytest.raises(UsageError, match="nprobe must be at least 1"):
        ivf.search(queries, 10, nprobe=0)


class _ListingEmbedder(HashEmbedder):
    """Records the FAISS folder each time the writer asks for vectors (between its commits)."""

    def __init__(self, folder, **kwargs):
        super().__init__(**kwargs)
        self.folder, self.listings = folder, []

    def encode_documents(self, texts):
        if self.folder.is_dir():
            self.listings.append(sorted(p.name for p in self.folder.iterdir()))
        return super().encode_documents(texts)


def test_superseded_generations_outlive_the_commit_that_replaced_them(tmp_path):
    """A reader that read generation g just before the writer committed g+1 must still find g's file:
    deleting it at once failed every retry of a reader racing a fast writer on a busy machine."""
    docs, db = tmp_path / "docs", tmp_path / "db"
    make_corpus(docs, 30, paragraphs=4)
    emb = _ListingEmbedder(db / "faiss", dim=32)
    build_index(docs, db, {"h": emb}, hash_options(commit_chunks=8, embed_batch=8))
    assert max(len(listing) for listing in emb.listings) > 1   # earlier generations were kept mid-run
    with Index.open(db) as idx:
        (enc,) = idx.encoders()
        assert enc.generation > 2
        assert sorted(p.name for p in (db / "faiss").iterdir()) == [f"{enc.id:04d}-h.g{enc.generation:08d}.faiss"]


def test_retired_files_go_only_after_their_grace(tmp_path):
    from indexer.store.layout import RetiredFiles

    old, older = tmp_path / "g1", tmp_path / "g2"
    old.write_bytes(b"1")
    older.write_bytes(b"2")
    kept = RetiredFiles(grace=3600)
    kept.retire([old])
    kept.retire([older])
    assert old.exists() and older.exists()
    RetiredFiles(grace=0).retire([old])   # no grace: gone with the retirement itself
    assert not old.exists() and older.exists()
