"""Every page of the Streamlit app with AppTest, against a real index (two real encoders, no mocks)."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from indexer import Index, IndexOptions, build_index
from ui_helpers import (APP, DOCUMENTS, QUERY_INSTRUCTION, SECRET, app, hits, no_errors, search,  # noqa: F401
                        text_of, ui_db)

def test_no_database_and_not_a_database(monkeypatch, tmp_path):
    monkeypatch.delenv("L2V_UI_DB", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and "No database given" in at.error[0].value
    at = app(monkeypatch, tmp_path / "missing.l2v")
    assert not at.exception and "is not an l2v database" in at.error[0].value


def test_search_page(monkeypatch, ui_db):
    at = app(monkeypatch, ui_db)
    no_errors(at)
    assert at.sidebar.radio(key="page").value == "Search"
    assert "Type a query" in at.info[0].value and not hits(at)          # empty query: an empty state
    search(at, "walrus operator")
    no_errors(at)
    found = hits(at)   # by document (the default): every document of the corpus once, best passage first
    paths = [h.split("<code>")[1].split("</code>")[0] for h in found]
    assert len(found) == DOCUMENTS == len(set(paths)) and paths[0] == "notes/walrus.md"
    assert '<mark class="l2v-passage">' in found[0] and "<b>walrus</b>" in found[0]
    text_of_first = found[0].split('class="l2v-text">')[1]
    assert text_of_first.index('<mark class="l2v-passage">') < 300   # the match is what the card shows first
    more = [e for e in at.expander if "more matching passage" in e.label]
    assert more and all("l2v-more" in c.proto.body for e in more for c in e.children.values())
    # the surrounding text of each hit, read from the file under the indexed root
    context = [c.proto.body for e in at.expander if e.label == "Surrounding text" for c in e.children.values()
               if "l2v-context" in getattr(c.proto, "body", "")]
    assert len(context) == DOCUMENTS and any("The walrus operator" in c for c in context), [c[:60] for c in context]
    assert at.code[0].value.startswith("(nothing")
    at.toggle(key="search_group").set_value(False).run()                    # one result per chunk
    assert len(hits(at)) == 10 and not [e for e in at.expander if "more matching passage" in e.label]
    at.selectbox(key="search_hash_preset").select("Web search").run()       # hash has no saved instruction
    assert at.code[0].value.startswith("Given a web search query") and len(hits(at)) == 10
    # the tiny encoder's saved query instruction is the default and is shown verbatim
    at.selectbox(key="search_encoder").select("tiny").run()
    no_errors(at)
    assert at.selectbox(key="search_tiny_preset").value == "Encoder's saved instruction"
    assert at.code[0].value == QUERY_INSTRUCTION and len(hits(at)) == 10
    at.selectbox(key="search_tiny_preset").select("Custom…").run()
    at.text_input(key="search_tiny_custom").input("Retrieve notes:").run()
    assert at.code[0].value == "Retrieve notes:" and len(hits(at)) == 10


def test_search_filters_k_and_hybrid(monkeypatch, ui_db):
    at = app(monkeypatch, ui_db)
    search(at, "assignment expression")
    at.toggle(key="search_group").set_value(False).run()
    at.number_input(key="search_k").set_value(3).run()
    assert len(hits(at)) == 3
    at.multiselect(key="search_types").select("md").run()
    no_errors(at)
    assert hits(at) and all("<code>notes/walrus.md</code>" in h for h in hits(at))
    at.multiselect(key="search_types").unselect("md").run()
    at.text_input(key="search_path").input("*.rst").run()
    assert hits(at) and all(".rst</code>" in h for h in hits(at))
    at.text_input(key="search_path").input("nothing/**").run()
    assert not hits(at) and "No hits" in at.warning[0].value
    at.text_input(key="search_path").input("").run()
    at.toggle(key="search_hybrid").set_value(True).run()
    no_errors(at)
    assert len(hits(at)) == 3 and all("BM25 rank" in h for h in hits(at))
    # the dense weight starts at the encoder's recorded one; at 0 the hits are BM25's own order
    weight = at.slider(key="search_hash_dense_weight")
    assert weight.value == 0.5 and not weight.disabled
    weight.set_value(0.0).run()
    no_errors(at)
    ranks = [int(h.split("BM25 rank ")[1].split("<")[0].split()[0].strip("#")) for h in hits(at)]
    assert ranks == [1, 2, 3], ranks
    at.toggle(key="search_hybrid").set_value(False).run()
    assert at.slider(key="search_hash_dense_weight").disabled


def test_compare_page(monkeypatch, ui_db):
    at = app(monkeypatch, ui_db, "compare")
    no_errors(at)
    assert at.multiselect(key="compare_encoders").value == ["hash", "tiny"]
    at.text_input(key="compare_query").input("walrus operator").run()
    no_errors(at)
    table = at.dataframe[0].value
    assert list(table["encoders"]) == ["hash vs tiny"]
    shared = int(table["shared"][0])
    assert table["overlap@10"][0] == pytest.approx(shared / 10)
    cards = hits(at)
    assert len(cards) == 20
    assert sum(" in tiny</span>" in c for c in cards) == shared == sum(" in hash</span>" in c for c in cards)
    assert sum("only here" in c for c in cards) == 20 - 2 * shared
    ranks = at.dataframe[1].value          # where the rankings differ: one row per distinct hit
    assert len(ranks) == 20 - shared and list(ranks.columns) == ["passage", "hash", "tiny", "spread"]
    assert list(ranks["spread"]) == sorted(ranks["spread"], reverse=True)
    latencies = [c.value for c in at.caption if " ms · " in c.value]
    assert len(latencies) == 2 and all(float(v.split(" ms")[0]) > 0 for v in latencies)
    flat = {k: (v[0] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}
    assert flat["page"] == "compare" and flat["cq"] == "walrus operator" and "cenc" not in flat   # defaults stay out
    linked = AppTest.from_file(APP, default_timeout=60)                  # the comparison is a link
    for key, value in {**flat, "ck": "3", "cenc": "tiny,hash,nope"}.items():
        linked.query_params[key] = value
    linked.run()
    no_errors(linked)
    assert linked.multiselect(key="compare_encoders").value == ["tiny", "hash"]
    assert linked.number_input(key="compare_k").value == 3 and len(hits(linked)) == 6
    at.multiselect(key="compare_encoders").unselect("tiny").run()
    assert "at least two" in at.info[0].value


def test_compare_with_one_encoder(monkeypatch, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Only one encoder here, about rivers and seas.")
    build_index(folder, tmp_path / "one.l2v", {"hash": "hash:32"}, IndexOptions(progress=False))
    at = app(monkeypatch, tmp_path / "one.l2v", "compare")
    no_errors(at)
    assert "Only one encoder" in at.info[0].value


def picker(at: AppTest):
    """The cluster picker of the clustering on screen (its key names the clustering)."""
    (found,) = [s for s in at.selectbox if s.key and s.key.startswith("clusters_pick_")]
    return found


def test_clusters_page_is_cached_and_lists_documents(monkeypatch, ui_db):
    at = app(monkeypatch, ui_db, "clusters")
    no_errors(at)
    with Index.open(ui_db) as idx:
        n_chunks = idx.status(check=False).n_chunks
    summary = next(c.value for c in at.caption if "chunks in" in c.value)
    assert summary.startswith(f"{n_chunks:,} chunks in 8 clusters")
    chart = json.loads(next(e for e in at.main if getattr(e, "type", "") == "vega_lite_chart").proto.spec)
    assert {t["field"] for t in chart["encoding"]["tooltip"]} >= {"title", "snippet"}
    options = picker(at).options
    assert len(options) == 8 and all(":" in o for o in options)           # "c: term, term, ..." labels
    sizes = [int(o.rsplit("(", 1)[1].split()[0].replace(",", "")) for o in options]
    assert sum(sizes) == n_chunks
    picker(at).set_value(3).run()
    listed = at.dataframe[0].value
    assert listed["chunks in cluster"].sum() == sizes[3] and set(listed["path"]) <= {
        d.path for d in Index.open(ui_db).documents()}
    again = app(monkeypatch, ui_db, "clusters")                          # reopening: from the SQLite cache
    assert any("from cache" in c.value for c in again.caption)
    again.slider(key="clusters_k").set_value(4).run()
    no_errors(again)
    assert len(picker(again).options) == 4
    if "HDBSCAN" in again.selectbox(key="clusters_method").options:
        kmeans_labels = picker(again).options
        again.selectbox(key="clusters_method").select("HDBSCAN").run()
        no_errors(again)
        summary = next(c.value for c in again.caption if "chunks in" in c.value)
        assert summary.startswith(f"{n_chunks:,} chunks in")
        shown = picker(again)                      # a fresh picker: HDBSCAN's own labels, none of k-means'
        assert "hdbscan" in shown.key and shown.options != kmeans_labels and shown.value is not None


def test_index_page(monkeypatch, ui_db):
    at = app(monkeypatch, ui_db, "index")
    no_errors(at)
    with Index.open(ui_db) as idx:
        status = idx.status(check=False)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Documents": f"{status.n_documents:,}", "Chunks": f"{status.n_chunks:,}", "Encoders": "2"}
    encoders, runs, skipped, documents = (d.value for d in at.dataframe[:4])
    assert list(encoders["name"]) == ["hash", "tiny"] and list(encoders["vectors"]) == [status.n_chunks] * 2
    assert runs["status"][0] == "done"
    assert list(skipped["path"]) == ["empty.txt"] and skipped["reason"][0] == "empty"
    assert len(documents) == status.n_documents
    assert any(json.loads(j.value).get("query_instruction") == QUERY_INSTRUCTION for j in at.json)
    at.button(key="index_check").click().run()
    assert "Consistent" in at.success[0].value


def tampered_copy(src: Path, dst: Path, new_path: str) -> Path:
    shutil.copytree(src, dst)
    con = sqlite3.connect(dst / "metadata.sqlite")
    with con:
        con.execute("UPDATE documents SET path = ? WHERE path = 'notes/walrus.md'", (new_path,))
    con.close()
    return dst


@pytest.mark.parametrize("bad", ["../outside/secret.txt", "/ROOT/../outside/secret.txt"])
def test_paths_outside_the_root_are_never_read(monkeypatch, ui_db, tmp_path, bad):
    root = Path(Index.open(ui_db).root)
    db = tampered_copy(ui_db, tmp_path / "bad.l2v", bad.replace("/ROOT", str(root)))
    at = search(app(monkeypatch, db), "walrus operator")
    assert not at.exception and len(hits(at)) == DOCUMENTS
    assert any("refusing to read it" in e.value for e in at.error)        # inside the hit's expander only
    assert SECRET not in text_of(at)


def test_a_file_swapped_for_a_symlink_is_refused(monkeypatch, tmp_path):
    folder, outside = tmp_path / "docs", tmp_path / "outside.txt"
    folder.mkdir()
    (folder / "a.txt").write_text("Rivers flow into the sea through wide deltas.")
    outside.write_text(f"{SECRET} rivers flow")
    build_index(folder, tmp_path / "s.l2v", {"hash": "hash:32"}, IndexOptions(progress=False))
    (folder / "a.txt").unlink()
    (folder / "a.txt").symlink_to(outside)                                # after indexing: points outside
    at = app(monkeypatch, tmp_path / "s.l2v")
    at.text_input(key="search_query").input("rivers").run()
    assert not at.exception and len(hits(at)) == 1
    assert any("resolves outside the indexed folder" in e.value for e in at.error)
    assert SECRET not in text_of(at)


def _contexts(at: AppTest) -> list[str]:
    return [c.proto.body for e in at.expander if e.label == "Surrounding text" for c in e.children.values()
            if "l2v-context" in getattr(c.proto, "body", "")]


def _crafted_copy(ui_db: Path, dst: Path) -> tuple[Path, Path]:
    """A database whose recorded root is a folder the user never chose, with a row naming a file there
    (its real size and sha256), as a tampered or downloaded database could."""
    import hashlib

    with Index.open(ui_db) as idx:
        corpus = Path(idx.root)
    secret = corpus.parent / "outside" / "secret.txt"
    data = secret.read_bytes()
    shutil.copytree(ui_db, dst)
    con = sqlite3.connect(dst / "metadata.sqlite")
    with con:
        con.execute("UPDATE settings SET value = ? WHERE key = 'root'", (str(secret.parent),))
        con.execute("UPDATE documents SET path = 'secret.txt', sha256 = ?, size = ? WHERE path = 'notes/walrus.md'",
                    (hashlib.sha256(data).hexdigest(), len(data)))
    con.close()
    return corpus, secret


def test_a_crafted_database_cannot_make_the_ui_read_outside_the_users_root(monkeypatch, ui_db, tmp_path):
    corpus, secret = _crafted_copy(ui_db, tmp_path / "crafted.l2v")
    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    for root in (corpus, None):  # the user's folder (the database's lies outside it), or no --root at all
        at = search(app(monkeypatch, tmp_path / "crafted.l2v", root=root), "walrus operator")
        assert not at.exception and len(hits(at)) == DOCUMENTS
        contexts = _contexts(at)
        assert len(contexts) == DOCUMENTS and any("The walrus operator" in c for c in contexts)  # stored chunks
        notes = [c.value for c in at.caption]
        expected = "not inside --root" if root else "start `l2v ui` with --root FOLDER"
        assert sum(expected in n for n in notes) == DOCUMENTS, notes
        assert SECRET not in text_of(at)
    assert not any(str(secret.parent) in path for path in opened)


def test_missing_changed_and_special_files_read_the_same(monkeypatch, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("changed", "missing", "fifo"):
        (folder / f"{name}.txt").write_text(f"Rivers flow into the sea: the {name} file.")
    build_index(folder, tmp_path / "s.l2v", {"hash": "hash:32"}, IndexOptions(progress=False))
    (folder / "changed.txt").write_text("Rivers flow into the sea: the changed file!")  # same size, other bytes
    (folder / "missing.txt").unlink()
    (folder / "fifo.txt").unlink()
    os.mkfifo(folder / "fifo.txt")  # reading it would hang the UI: it must not even be opened for reading
    at = app(monkeypatch, tmp_path / "s.l2v", root=folder)
    at.text_input(key="search_query").input("rivers").run()
    assert not at.exception and len(hits(at)) == 3
    notes = [c.value for c in at.caption if "showing stored chunks" in c.value]
    assert notes == ["file missing or changed since indexing; showing stored chunks"] * 3


def test_an_encoder_that_cannot_load_is_a_friendly_error(monkeypatch, ui_db, tmp_path):
    db = tmp_path / "moved.l2v"
    shutil.copytree(ui_db, db)
    con = sqlite3.connect(db / "metadata.sqlite")
    with con:
        con.execute("UPDATE encoders SET source = ? WHERE name = 'tiny'", (str(tmp_path / "gone-encoder"),))
    con.close()
    at = app(monkeypatch, db)
    search(at, "walrus operator", encoder="tiny")
    assert not at.exception and not hits(at) and at.error
    assert "gone-encoder" in at.error[0].value and "Traceback" not in at.error[0].value
    search(at, "walrus operator", encoder="hash")                        # the other encoder still works
    no_errors(at)
    assert len(hits(at)) == DOCUMENTS


def test_index_page_shows_an_evaluation_report(monkeypatch, ui_db, tmp_path):
    from adaptation.evaluation import Report, TaskResult

    def result(score: float) -> TaskResult:
        return TaskResult("sts", "sts/dev", "spearman", score, {"spearman": score})

    report = Report(settings={}, versions={}, tasks=[{"key": "sts/dev"}], encoders=[{"name": "hash"}, {"name": "tiny"}],
                    results={"hash": {"sts/dev": result(0.25)}, "tiny": {"sts/dev": result(0.5)}})
    path = report.save(tmp_path / "eval.json")
    monkeypatch.setenv("L2V_UI_REPORT", str(path))
    at = app(monkeypatch, ui_db, "index")
    no_errors(at)
    table = at.dataframe[-1].value
    assert list(table["task"]) == ["sts/dev"] and table["best"][0] == "tiny" and table["tiny"][0] == 0.5
    (tmp_path / "bad.json").write_text("{}")
    monkeypatch.setenv("L2V_UI_REPORT", str(tmp_path / "bad.json"))
    at = app(monkeypatch, ui_db, "index")
    assert not at.exception and "not an l2v evaluation report" in at.warning[0].value


def test_a_rebuilt_database_is_reopened_without_restarting(monkeypatch, tmp_path):
    """`l2v index --rebuild` writes a new metadata.sqlite; the running app must serve it, not the old file."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "old.md").write_text("# Old\n\nAlbatross migration routes over the southern ocean.\n")
    db = tmp_path / "db.l2v"
    options = IndexOptions(chunk_tokens=64, overlap=8, progress=False)
    build_index(folder, db, {"hash": "hash:32"}, options)
    at = search(app(monkeypatch, db), "albatross")
    assert any("old.md" in h for h in hits(at))

    (folder / "old.md").unlink()
    (folder / "new.md").write_text("# New\n\nVolcanic islands form where magma rises through the crust.\n")
    with Index.open(db) as before:
        build_index(folder, db, {"hash": "hash:32"}, IndexOptions(chunk_tokens=64, overlap=8, progress=False,
                                                                  rebuild=True))
        assert before.replaced()
    at = search(app(monkeypatch, db), "volcanic islands")     # a rerun in the same server process
    no_errors(at)
    found = hits(at)
    assert found and all("new.md" in h for h in found) and not any("old.md" in h for h in found)
