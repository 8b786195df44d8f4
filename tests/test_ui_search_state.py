"""The Search page's state as a link (URL query string) and its CSV/JSON export, with AppTest on a real index."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from indexer import Index
from ui_helpers import APP, app, hits, no_errors, search, ui_db  # noqa: F401


def test_a_search_is_a_link_and_a_link_restores_the_search(monkeypatch, ui_db):
    at = app(monkeypatch, ui_db)
    search(at, "walrus operator")
    at.number_input(key="search_k").set_value(3).run()
    at.toggle(key="search_group").set_value(False).run()
    params = dict(at.query_params)
    flat = {k: (v[0] if isinstance(v, list) else v) for k, v in params.items()}
    assert flat["q"] == "walrus operator" and flat["k"] == "3" and flat["g"] == "0" and flat["ip"] == "No instruction"
    assert "hy" not in flat                                  # defaults stay out of the link
    # a fresh session opened on that link shows the same search
    shared = AppTest.from_file(APP, default_timeout=60)
    for key, value in flat.items():
        shared.query_params[key] = value
    monkeypatch.setenv("L2V_UI_DB", str(ui_db))
    shared.run()
    no_errors(shared)
    assert shared.text_input(key="search_query").value == "walrus operator"
    assert shared.number_input(key="search_k").value == 3 and shared.toggle(key="search_group").value is False
    assert hits(shared) == hits(at)
    # a hand-edited link with values that do not exist falls back to the defaults, without an error
    odd = AppTest.from_file(APP, default_timeout=60)
    for key, value in {"q": "walrus", "enc": "nope", "k": "5000", "types": "md,zzz", "ip": "???"}.items():
        odd.query_params[key] = value
    odd.run()
    no_errors(odd)
    assert odd.selectbox(key="search_encoder").value == "hash" and odd.number_input(key="search_k").value == 10
    assert odd.multiselect(key="search_types").value == ["md"] and hits(odd)


def test_results_export_as_csv_and_json(monkeypatch, ui_db):
    from search_ui.highlight import best_passage
    from search_ui.views.search import result_rows

    at = app(monkeypatch, ui_db)
    search(at, "walrus operator")
    buttons = at.get("download_button")
    assert [b.proto.label for b in buttons] == ["Download CSV", "Download JSON"]
    with Index.open(ui_db) as idx:
        documents = idx.search_documents("walrus operator", encoder="hash", k=3, instruction="")
    hits_ = [d.best for d in documents]
    rows = result_rows(hits_, [best_passage(h.text, "walrus operator") for h in hits_], documents)
    assert [r["rank"] for r in rows] == [1, 2, 3] and rows[0]["path"] == "notes/walrus.md"
    assert "walrus" in rows[0]["passage"].lower() and rows[0]["more_passages"] == len(documents[0].passages)
