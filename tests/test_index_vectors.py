"""Approximate FAISS indexes after updates: the same answers as Flat, filters that never drop hits,
search parameters of the right type, a consistency check that looks at vectors, one-snapshot reads."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from indexer import Index, build_index
from indexer.store.layout import faiss_path
from indexer.vectors.store import VectorStore

from indexer_helpers import TOPICS, hash_options, make_corpus, write_doc

FACTORIES = ["IVF16,Flat", "HNSW32"]
QUERIES = [f"{topic} notes" for topic in TOPICS] + [
    "rivers flow to the sea", "capital of France", "neural networks learn text", "the cat sat on the mat",
    "search engines rank documents", "mountains and oceans", "libraries of encoders", "a network of capitals",
    "cats search rivers", "deep oceans", "ranking text by meaning"]
NARROW = {"path": "doc013.md"}          # one document: fewer chunks than k
assert len(QUERIES) == 20


@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    """Flat, IVF16 and HNSW32 databases of one folder, after deleting 3 files and editing a fourth."""
    root = tmp_path_factory.mktemp("approx")
    docs = root / "docs"
    paths = make_corpus(docs, 60, paragraphs=4)
    dbs = {f: root / f.replace(",", "_") for f in ["Flat", *FACTORIES]}
    for factory, db in dbs.items():
        build_index(docs, db, {"h": "hash:32"}, hash_options(factory=factory))
    for path in paths[20:23]:
        path.unlink()
    with open(paths[30], "a", encoding="utf-8") as handle:
        handle.write("\nOne more line about rivers and the sea.\n")
    for db in dbs.values():
        report = build_index(docs, db, None, hash_options())
        assert (report.docs_deleted, report.docs_changed) == (3, 1)
    return dbs


def _assert_same(hits, expected):
    """Same hits in the same order, scores close; hits tied in score may swap (and at the cut, differ)."""
    assert len(hits) == len(expected)
    np.testing.assert_allclose([h.score for h in hits], [h.score for h in expected], atol=1e-5)
    cut = expected[-1].score if expected else 0.0
    for got, want in zip(hits, expected):
        if (got.path, got.start) != (want.path, want.start):
            assert abs(got.score - want.score) < 1e-5, (got.path, got.start, want.path, want.start)
    assert {(h.path, h.start) for h in hits if h.score > cut + 1e-5} == \
        {(h.path, h.start) for h in expected if h.score > cut + 1e-5}


@pytest.mark.parametrize("factory", FACTORIES)
def test_trained_approximate_index_after_delete_and_edit_equals_flat(updated, factory):
    """20 queries, unfiltered and with a one-document filter; IVF also with one probed list (the filter
    is then answered exactly over the allowed ids, so even nprobe=1 cannot lose hits)."""
    with Index.open(updated["Flat"]) as flat, Index.open(updated[factory]) as approx:
        assert not approx.vectors().staged                            # IVF really trained
        assert approx.vectors().ntotal == flat.vectors().ntotal > 300
        knobs = [{}, {"nprobe": 1}] if "IVF" in factory else [{}, {"ef_search": 8}]
        for query in QUERIES:
            _assert_same(approx.search(query, k=10), flat.search(query, k=10))
            expected = flat.search(query, k=10, where=NARROW)
            assert 0 < len(expected) < 10
            for knob in knobs:
                _assert_same(approx.search(query, k=10, where=NARROW, **knob), expected)
            _assert_same(approx.search(query, k=10, where={"path": "a/**"}, **knobs[1]),
                         flat.search(query, k=10, where={"path": "a/**"}))
        assert approx.check_consistency() == []


def test_ivf_stores_its_own_ids_and_removal_keeps_labels():
    """Removal from the middle of an IVF, then more adds: every vector is still found under its own id."""
    from indexer.consistency import verify_sample

    rng = np.random.default_rng(0)
    data = rng.standard_normal((600, 16)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    ids = np.arange(1, 601, dtype=np.int64) * 3
    store = VectorStore.create(16, "IVF8,Flat")
    store.add(ids[:400], data[:400])
    assert store.maybe_train(final=True)
    assert not isinstance(store.index, faiss.IndexIDMap)
    store.remove(ids[50:250:2])
    store.add(ids[400:], data[400:])
    kept = np.setdiff1d(ids, ids[50:250:2])
    assert np.array_equal(np.sort(store.ids()), kept)
    np.testing.assert_allclose(store.reconstruct(ids[[0, 51, 599]]), data[[0, 51, 599]])
    rows = np.searchsorted(ids, kept)
    _, found = store.search(data[rows], 1, nprobe=8)
    assert np.array_equal(found[:, 0], kept)
    assert verify_sample(store, kept, size=len(kept)) is None


@pytest.mark.parametrize("factory", ["IVF8,Flat", "HNSW16"])
def test_search_parameters_match_the_index_type(factory):
    """A filter or the other index type's knob used to pass plain SearchParameters to an IVF (RuntimeError)."""
    rng = np.random.default_rng(1)
    data = rng.standard_normal((400, 8)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    ids = np.arange(400, dtype=np.int64) + 1
    store = VectorStore.create(8, factory)
    store.add(ids, data)
    store.maybe_train(final=True)
    assert not store.staged
    for kwargs in ({"allowed": ids[:5]}, {"ef_search": 20}, {"nprobe": 2}, {"allowed": ids, "ef_search": 20},
                   {"allowed": ids}):
        scores, found = store.search(data[:3], 5, **kwargs)
        assert found.shape == (3, 5) and (found >= 0).all()


def test_a_narrow_filter_is_exact_on_a_big_approximate_index(monkeypatch):
    """Above the exact-filter size the approximate search runs first; coming back short it falls back."""
    from indexer.vectors import store as vectors

    monkeypatch.setattr(vectors, "EXACT_FILTER_MAX", 10)
    rng = np.random.default_rng(2)
    data = rng.standard_normal((2000, 16)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    ids = np.arange(2000, dtype=np.int64) + 1
    for factory, knob in (("HNSW4", {"ef_search": 4}), ("IVF32,Flat", {"nprobe": 1})):
        store = VectorStore.create(16, factory)
        store.add(ids, data)
        store.maybe_train(final=True)
        allowed = ids[::97]                                         # 21 vectors spread over the space
        queries = data[:20]
        scores, found = store.search(queries, 10, allowed=allowed, **knob)
        exact = allowed[np.argsort(-(queries @ data[allowed - 1].T), axis=1)[:, :10]]
        assert (found == exact).all(), factory


def test_consistency_check_reports_an_index_that_mislabels_vectors(tmp_path):
    """Same id set, wrong vectors: the id-set comparison passes, the re-search sample does not."""
    import typer
    from typer.testing import CliRunner

    from indexer.cli import register

    make_corpus(tmp_path / "docs", 30, paragraphs=3)
    db = tmp_path / "db"
    build_index(tmp_path / "docs", db, {"h": "hash:32"}, hash_options(factory="IVF4,Flat"))
    with Index.open(db) as idx:
        row = idx.encoders()[0]
        assert idx.check_consistency() == []
    path = faiss_path(db, row.id, row.name, row.generation)
    index = faiss.read_index(str(path))
    lists = [i for i in range(index.nlist) if index.invlists.list_size(i)]
    a, b = (faiss.rev_swig_ptr(index.invlists.get_ids(i), index.invlists.list_size(i)) for i in lists[:2])
    a[0], b[0] = int(b[0]), int(a[0])                             # swap two labels across lists
    faiss.write_index(index, str(path))
    with Index.open(db) as idx:
        problems = idx.check_consistency()
    assert len(problems) == 1 and "mislabels vectors" in problems[0], problems
    app = typer.Typer()
    register(app)
    status = CliRunner().invoke(app, ["status", str(db)])
    assert status.exit_code == 0 and "CONSISTENCY PROBLEMS" in status.output and "mislabels" in status.output


def test_search_reads_the_generation_and_chunk_rows_in_one_snapshot(tmp_path, monkeypatch):
    """A writer committing between the FAISS read and the chunk-row read used to drop hits (8 of 10)."""
    docs = tmp_path / "docs"
    paths = make_corpus(docs, 12)
    db = tmp_path / "db"
    build_index(docs, db, {"h": "hash:32"}, hash_options())
    original = VectorStore.search
    calls = []

    def search_then_writer_commits(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if not calls:
            calls.append(1)
            for i, path in enumerate(paths):                  # every chunk is replaced by the writer
                write_doc(path, 500 + i)
            build_index(docs, db, None, hash_options())
        return result

    with Index.open(db) as idx:
        expected = idx.search("rivers flow to the sea", k=10)
        monkeypatch.setattr(VectorStore, "search", search_then_writer_commits)
        hits = idx.search("rivers flow to the sea", k=10)
        assert calls and [h.chunk_id for h in hits] == [h.chunk_id for h in expected]
        monkeypatch.setattr(VectorStore, "search", original)
        after = idx.search("rivers flow to the sea", k=10)
        assert len(after) == 10 and not {h.chunk_id for h in after} & {h.chunk_id for h in expected}
