"""Pure helpers of the UI: passage highlighting, agreement metrics, safe paths, clustering, cache, CLI."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from search_ui.compare import agreements, kendall_shared, overlap_at_k, rank_badges, rank_table, spearman_union
from search_ui.documents import chunks_text, context, safe_path
from search_ui.errors import PathOutsideRootError, UsageError
from search_ui.highlight import best_passage, best_passages, highlight_html, sentences

TEXT = ("Rivers flow to the sea. The walrus operator assigns inside expressions. "
        "Cats sleep most of the day.\n\nLibraries lend books.")


def test_best_passage_picks_the_sentence_with_query_words():
    p = best_passage(TEXT, "walrus operator", window=1)
    assert p.how == "lexical"
    assert TEXT[p.start:p.end] == "The walrus operator assigns inside expressions."


def test_rare_query_terms_outweigh_common_ones():
    text = "The cat sat. The cat ran. The cat ate fish."
    p = best_passage(text, "cat fish", window=1)
    assert "fish" in text[p.start:p.end]


def test_semantic_fallback_and_no_match():
    calls = []

    def semantic(query, pieces):
        calls.append(pieces)
        return [float("Cats" in piece) for piece in pieces]

    p = best_passage(TEXT, "feline naps", window=1, semantic=semantic)
    assert p.how == "semantic" and TEXT[p.start:p.end].startswith("Cats sleep") and calls
    assert best_passage(TEXT, "zebra", window=1).how == "none"


def test_sentences_cover_long_text_in_windows():
    text = "word " * 300
    spans = sentences(text, max_chars=100)
    assert all(e - s <= 100 for s, e in spans) and spans[0][0] == 0 and len(spans) >= 15


def test_highlight_escapes_document_html():
    text = "Hello <script>alert(1)</script> walrus & friends"
    out = highlight_html(text, best_passage(text, "walrus"), "walrus")
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp;" in out
    assert '<mark class="l2v-passage">' in out and "<b>walrus</b>" in out


def test_overlap_and_rank_correlations():
    a = [1, 2, 3, 4, 5]
    assert overlap_at_k(a, a) == 1.0 and overlap_at_k(a, [9, 8, 7, 6, 5]) == 0.2
    assert spearman_union(a, a) == pytest.approx(1.0)
    assert spearman_union(a, a[::-1]) == pytest.approx(-1.0)
    assert spearman_union(a, [6, 7, 8, 9, 10]) < 0          # disjoint lists disagree
    assert kendall_shared(a, a) == 1.0 and kendall_shared(a, a[::-1]) == -1.0
    assert kendall_shared(a, [1, 9, 9, 9]) is None          # one shared item: undefined
    pairs = agreements({"x": a, "y": [2, 1, 3, 10, 11], "z": a}, k=5)
    assert [(p.a, p.b, p.shared) for p in pairs] == [("x", "y", 3), ("x", "z", 5), ("y", "z", 3)]
    assert pairs[0].overlap == pytest.approx(0.6) and pairs[0].kendall == pytest.approx(1 / 3)


def test_rank_badges_and_table_show_where_rankings_differ():
    rankings = {"a": [1, 2, 3], "b": [2, 4, 1]}
    badges = rank_badges(rankings, 3)
    assert badges["a"] == {1: ["#3 in b"], 2: ["#1 in b"], 3: ["only here"]}
    assert badges["b"][4] == ["only here"]
    table = rank_table(rankings, 3)
    assert [(r["item"], r["a"], r["b"]) for r in table] == [(1, 1, 3), (4, None, 2), (2, 2, 1), (3, 3, None)]
    spreads = {r["item"]: r["spread"] for r in table}
    assert spreads == {1: 2, 2: 1, 3: 1, 4: 2}            # absent counts as rank k + 1 = 4
    assert [r["item"] for r in table] == [1, 4, 2, 3]      # largest spread first, then best rank

def test_safe_path_refuses_escapes(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    os.symlink(root / "sub" / "a.txt", root / "inner-link.txt")
    os.symlink(tmp_path, root / "up")
    assert safe_path(root, "sub/a.txt") == (root / "sub" / "a.txt").resolve()
    assert safe_path(root, "inner-link.txt") == (root / "sub" / "a.txt").resolve()
    for bad in ["../secret.txt", "sub/../../secret.txt", str(tmp_path / "secret.txt"), "/etc/passwd", "link.txt",
                "up/secret.txt", "", "a\x00b"]:
        with pytest.raises(PathOutsideRootError):
            safe_path(root, bad)
    with pytest.raises(PathOutsideRootError):
        safe_path("", "sub/a.txt")


def test_context_cuts_at_words():
    text = " ".join(f"w{i}" for i in range(1000))
    start = text.index("w500")
    before, hit, after = context(text, start, start + 4, chars=30)
    assert hit == "w500" and before.startswith("…") and after.endswith("…")
    assert len(before) <= 32 and not before[1:].startswith(" ") and before.endswith(" ")


# ------------------------------------------------------------------ clustering on real FAISS stores
def planted(n_per: int = 60, dim: int = 16, centres: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((centres, dim)) * 4
    x = np.vstack([m + rng.standard_normal((n_per, dim)) * 0.3 for m in means]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.repeat(np.arange(centres), n_per)


@pytest.mark.parametrize("factory", ["Flat", "IVF4,Flat", "HNSW8"])
def test_kmeans_over_every_vector_recovers_planted_clusters(factory):
    from sklearn.metrics import adjusted_rand_score

    from indexer.vectors import StoredVectors, VectorStore
    from search_ui import clustering as cl

    x, truth = planted()
    faiss_store = VectorStore.create(x.shape[1], factory)
    ids = np.arange(1000, 1000 + len(x), dtype=np.int64)[::-1].copy()  # ids unrelated to positions
    faiss_store.add(ids, x)
    faiss_store.maybe_train(final=True)
    store = StoredVectors(faiss_store)   # what Index.stored_vectors hands the UI
    blocks = list(cl.iter_vectors(store, block=50))
    assert sum(len(b[0]) for b in blocks) == len(x)
    got_ids, labels, _ = cl.kmeans_all(store, 4)
    order = {int(i): p for p, i in enumerate(ids)}
    aligned = truth[[order[int(i)] for i in got_ids]]
    assert adjusted_rand_score(aligned, labels) > 0.95
    sample = cl.sample_positions(len(x), 50)
    assert len(sample) == 50 and np.all(np.diff(sample) > 0)
    np.testing.assert_allclose(cl.vectors_at(store, sample), np.vstack([b[1] for b in blocks])[sample], atol=1e-5)
    assert cl.project(x, "pca").shape == (len(x), 2)


def test_hdbscan_and_params_validation():
    from search_ui import clustering as cl

    if not cl.hdbscan_available():
        pytest.skip("scikit-learn without HDBSCAN (needs >= 1.3)")
    x, truth = planted(n_per=40)
    labels = cl.hdbscan_sample(x)
    assert len(set(labels.tolist()) - {-1}) == 4
    for bad in [dict(method="dbscan"), dict(projection="tsne"), dict(k=1), dict(sample=1)]:
        with pytest.raises(UsageError):
            cl.ClusterParams(**bad)
    if not cl.umap_available():
        with pytest.raises(UsageError, match="UMAP"):
            cl.project(x, "umap")


def test_c_tfidf_prefers_distinctive_terms():
    from search_ui.clustering import c_tfidf_terms

    terms = c_tfidf_terms({0: ["python python walrus operator shared words"] * 3,
                           1: ["river river delta estuary shared words"] * 3, 2: ["the and of"]}, top=3)
    assert terms[0][0] == "python" and terms[1][0] == "river"
    assert "shared" not in terms[0][:2] and terms[2] == []


# ------------------------------------------------------------------ CLI
def test_streamlit_command_and_bad_database(tmp_path):
    from search_ui.cli import APP, streamlit_command

    cmd = streamlit_command(tmp_path / "x.l2v", "127.0.0.1", 8600)
    assert cmd[1:5] == ["-m", "streamlit", "run", str(APP)] and APP.is_file()
    for flag, value in [("--server.headless", "true"), ("--server.address", "127.0.0.1"), ("--server.port", "8600"),
                        ("--browser.gatherUsageStats", "false")]:
        assert cmd[cmd.index(flag) + 1] == value
    assert cmd[cmd.index("--") + 1:] == ["--db", str(tmp_path / "x.l2v")]

def test_the_ui_root_is_given_or_confirmed_by_the_user_never_taken_from_the_database(ui_db, tmp_path, monkeypatch):
    import io
    from pathlib import Path

    import typer

    from search_ui.cli import confirmed_root, streamlit_command
    from search_ui.errors import UsageError

    cmd = streamlit_command(ui_db, "127.0.0.1", 8600, root=tmp_path)
    assert cmd[-2:] == ["--root", str(tmp_path)]
    assert confirmed_root(ui_db, tmp_path) == tmp_path.resolve()
    with pytest.raises(UsageError, match="is not a folder"):
        confirmed_root(ui_db, tmp_path / "nope")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))       # not a terminal: nobody to ask, nothing is read
    assert confirmed_root(ui_db, None) is None
    tty = io.StringIO("")
    tty.isatty = lambda: True
    monkeypatch.setattr(sys, "stdin", tty)
    asked: list[tuple[str, bool]] = []
    for answer in (False, True):
        monkeypatch.setattr(typer, "confirm",
                            lambda text, default, answer=answer: asked.append((text, default)) or answer)
        got = confirmed_root(ui_db, None)
        assert got == (Path(asked[-1][0].split("'")[1]) if answer else None), got
    assert [default for _, default in asked] == [False, False]  # Enter means no
    assert all("the folder this database says it indexed" in text for text, _ in asked)


def test_l2v_ui_refuses_a_missing_database_in_one_line(tmp_path, monkeypatch, capsys):
    from search_ui.l2v import main

    monkeypatch.setattr(sys, "argv", ["l2v", "ui", str(tmp_path / "none")])
    with pytest.raises(SystemExit) as done:
        main()
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith("error: ") and "metadata.sqlite" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_chunks_text_rebuilds_document_from_stored_chunks(ui_db):
    from indexer import Index

    with Index.open(ui_db) as idx:
        doc = next(d for d in idx.documents() if d.path == "notes/walrus.md")
        text = chunks_text(idx, doc.id)
        for c in idx.chunks(document_id=doc.id):
            assert text[c.start:c.end] == c.text


from ui_helpers import ui_db  # noqa: E402,F401


def test_best_passages_batches_the_semantic_fallback():
    calls = []

    def semantic(query, pieces):
        calls.append(len(pieces))
        return [float("deltas" in p) for p in pieces]

    texts = ["The walrus operator assigns. Other words.", "Rivers flow. Wide deltas form.", "Nothing. Deltas deltas."]
    got = best_passages(texts, "walrus", window=1, semantic=semantic)
    assert [p.how for p in got] == ["lexical", "semantic", "semantic"] and calls == [4]
    assert texts[1][got[1].start:got[1].end] == "Wide deltas form."


def test_cluster_map_cache_follows_the_faiss_generation(tmp_path):
    from indexer import Index, IndexOptions, build_index
    from search_ui.cluster_map import cluster_map
    from search_ui.clustering import ClusterParams
    from search_ui.clusters_cache import CACHE_NAME, ClusterCache

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        topic = ["rivers and seas", "cats and dogs", "python code"][i % 3]
        (folder / f"d{i}.txt").write_text(f"Note {i} about {topic}. " * 5 + f"More on {topic} here.")
    db = tmp_path / "c.l2v"
    build_index(folder, db, {"hash": "hash:32"}, IndexOptions(progress=False))
    params = ClusterParams(k=3, sample=8)
    with Index.open(db) as idx:
        cache = ClusterCache(db)
        first = cluster_map(idx, "hash", params, cache)
        again = cluster_map(idx, "hash", params, cache)
        assert not first.cached and again.cached and (db / CACHE_NAME).is_file()
        np.testing.assert_array_equal(first.labels, again.labels)
        np.testing.assert_array_equal(first.coords, again.coords)
        assert first.terms == again.terms and len(first.sample) == 8 and len(first.ids) == 12
        assert sum(first.sizes().values()) == 12 and sorted(first.sizes()) == [0, 1, 2]
        assert sum(n for _, n in first.cluster_documents(0)) == first.sizes()[0]
        assert not cluster_map(idx, "hash", ClusterParams(k=2, sample=8), cache).cached   # k is in the key
        (folder / "new.txt").write_text("A new note about rivers and seas.")
        build_index(folder, db, None, IndexOptions(progress=False))                     # new FAISS generation
        fresh = cluster_map(idx, "hash", params, cache)
        assert not fresh.cached and len(fresh.ids) == 13
        assert all("|g2|" in key for key in cache.keys())                               # old generation dropped
        cache.close()


def test_clicked_cluster_parses_chart_selection():
    from search_ui.views.clusters import clicked_cluster

    assert clicked_cluster({"selection": {"pick": [{"cluster": "3: walrus, operator"}]}}) == 3
    assert clicked_cluster({"selection": {"pick": [{"cluster": "noise"}]}}) == -1
    assert clicked_cluster({"selection": {"pick": []}}) is None and clicked_cluster(None) is None


def test_surrounding_text_falls_back_to_stored_chunks(tmp_path):
    from indexer import Index, IndexOptions, build_index
    from search_ui.documents import MISSING_OR_CHANGED_NOTE, NO_ROOT_NOTE, hit_context

    folder = tmp_path / "docs"
    folder.mkdir()
    body = " ".join(f"Sentence {i} about rivers and the sea." for i in range(80))
    (folder / "a.txt").write_text(body)
    build_index(folder, tmp_path / "f.l2v", {"hash": "hash:32"}, IndexOptions(chunk_tokens=40, overlap=0, progress=False))
    with Index.open(tmp_path / "f.l2v") as idx:
        hit = idx.search("Sentence 40 rivers", k=1)[0]
        ctx = hit_context(idx, hit.document_id, hit.start, hit.end, chars=100, root=folder)
        assert ctx.source == "file" and ctx.hit == hit.text and body.find(ctx.before.lstrip("…")) >= 0
        assert 0 < len(ctx.before) <= 102 and 0 < len(ctx.after) <= 102
        ctx = hit_context(idx, hit.document_id, hit.start, hit.end, chars=100)  # no root given: no file read
        assert (ctx.source, ctx.note) == ("chunks", NO_ROOT_NOTE) and ctx.hit == hit.text
        (folder / "a.txt").write_text("changed after indexing")
        ctx = hit_context(idx, hit.document_id, hit.start, hit.end, chars=100, root=tmp_path)
        assert (ctx.source, ctx.note) == ("chunks", MISSING_OR_CHANGED_NOTE) and ctx.hit == hit.text
        (folder / "a.txt").unlink()
        ctx = hit_context(idx, hit.document_id, hit.start, hit.end, chars=100, root=folder)
        assert (ctx.source, ctx.note) == ("chunks", MISSING_OR_CHANGED_NOTE) and ctx.hit == hit.text


def test_c_tfidf_leaves_out_words_of_most_clusters():
    from search_ui.clustering import c_tfidf_terms

    topics = ["walrus operator assignment", "generator yield coroutine", "decorator wrapper function",
              "unicode string bytes"]
    texts = {c: [f"python python use code {topic} {topic}"] * 2 for c, topic in enumerate(topics)}
    terms = c_tfidf_terms(texts, top=3)
    assert all(not {"python", "use", "code"} & set(t) for t in terms.values()), terms
    assert terms[0][0] in {"walrus", "operator", "assignment"} and terms[3][0] in {"unicode", "string", "bytes"}


def test_a_folder_link_swapped_in_after_the_check_is_not_followed(tmp_path):
    """The UI reads a document's file as the indexer does: a folder on its path replaced by a link out of the root
    between ``safe_path``'s check and the open is refused, even when the file behind the link is identical."""
    from search_ui.documents import _read_if_unchanged, safe_path

    root, outside = tmp_path / "docs", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "sub" / "a.txt").write_text("rivers and the sea\n")
    (outside / "a.txt").write_text("rivers and the sea\n")
    path = safe_path(root, "sub/a.txt")                       # the check passes now
    assert _read_if_unchanged(root.resolve(), path, 19) == b"rivers and the sea\n"
    (root / "sub").rename(tmp_path / "moved")                 # ... then the folder becomes a link out of the root
    (root / "sub").symlink_to(outside, target_is_directory=True)
    assert _read_if_unchanged(root.resolve(), path, 19) is None
