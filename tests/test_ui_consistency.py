"""What a new user saw disagree or crawl (issue 20, items 4 and 6): the highlighter's encoder work per page,
one dense/hybrid default everywhere, blank-looking queries, documents in the demo, the UI's small details."""
from __future__ import annotations

import pytest

from search_ui.highlight import SEMANTIC_BUDGET, SEMANTIC_CHARS, best_passage, best_passages, header_blocks
from ui_helpers import app, hits, no_errors, search, ui_db  # noqa: F401

PEP_HEAD = ("PEP: 572\nTitle: Assignment Expressions\nAuthor: Chris Angelico <rosuav@gmail.com>,\n"
            "        Tim Peters <tim.peters@gmail.com>\nStatus: Final\nPython-Version: 3.8\n\n\n"
            "Abstract\n========\n\nThis is a proposal for creating a way to assign to variables within an "
            "expression. The operator became known as the walrus. Assignment expressions bind names.\n")


# ------------------------------------------------------------------ item 4: highlighting is cheap
def _long_chunk(i: int) -> str:
    return " ".join(f"Sentence {j} of chunk {i} speaks about rivers and valleys number {j}." for j in range(40))


def test_a_page_embeds_a_few_short_windows_in_one_call():
    calls: list[list[str]] = []

    def semantic(query, pieces):
        calls.append(list(pieces))
        return [float(len(p) % 7) for p in pieces]

    texts = [_long_chunk(i) for i in range(10)]          # 10 hits, 40 sentences each, no query word in any
    got = best_passages(texts, "zeppelin xylophone", semantic=semantic)
    assert len(calls) == 1 and 2 <= len(calls[0]) <= SEMANTIC_BUDGET, [len(c) for c in calls]
    assert all(len(p) <= SEMANTIC_CHARS for p in calls[0])
    assert got[0].how == "semantic" and {p.how for p in got} <= {"semantic", "none"}
    # one unmatched hit gets the whole budget; a hit with a query word needs no encoder at all
    calls.clear()
    one = best_passages(["Walrus here. Other words.", _long_chunk(0)], "walrus", semantic=semantic)
    assert [p.how for p in one] == ["lexical", "semantic"] and len(calls) == 1 and len(calls[0]) == SEMANTIC_BUDGET


def test_three_unmatched_hits_on_a_page_are_all_highlighted_in_one_call():
    """A page of documents often has three hits sharing no query word (CI's PEP page did): none left plain."""
    calls: list[list[str]] = []

    def semantic(query, pieces):
        calls.append(list(pieces))
        return [float(len(p) % 5) for p in pieces]

    texts = ["The walrus operator. It assigns."] * 4 + [_long_chunk(i) for i in range(3)]
    got = best_passages(texts, "walrus operator", semantic=semantic)
    assert [p.how for p in got] == ["lexical"] * 4 + ["semantic"] * 3
    assert len(calls) == 1 and sum(map(len, calls[0])) <= SEMANTIC_BUDGET * SEMANTIC_CHARS


def test_partial_word_overlap_chooses_the_candidates():
    seen: list[list[str]] = []

    def semantic(query, pieces):
        seen.append(pieces)
        return [0.0] * len(pieces)

    text = " ".join(["Filler words here."] * 30 + ["Assignments happen inside while loops."])
    best_passages([text], "assigning", window=1, semantic=semantic, budget=2)
    assert seen[0][0] == "Assignments happen inside while loops."     # stem overlap first, then text order


def test_header_lines_are_never_the_passage():
    assert header_blocks(PEP_HEAD) == [(0, PEP_HEAD.index("\n\n") + 1)]
    p = best_passage(PEP_HEAD, "assignment expressions", window=1)
    assert p.how == "lexical" and PEP_HEAD[p.start:p.end].startswith("Assignment expressions bind")
    p = best_passage(PEP_HEAD, "Chris Angelico", window=1)     # only the header has these words
    assert p.how == "none"
    plain = "Note: one line that looks like a field.\nThe walrus operator assigns."
    assert header_blocks(plain) == []                                   # one field line is prose


def test_search_page_embeds_at_most_the_budget_and_a_rerun_embeds_nothing(monkeypatch, ui_db):
    """Counted on the real encoder wrapper (the tiny Llama behind ``EncoderAdapter``), no timing."""
    from indexer.embedding.embedders import EncoderAdapter

    embedded: list[int] = []
    real = EncoderAdapter.encode_documents

    def counting(self, texts):
        embedded.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(EncoderAdapter, "encode_documents", counting)
    at = app(monkeypatch, ui_db)
    search(at, "zeppelin xylophone quarterback", encoder="tiny")      # no word of the corpus: the fallback
    no_errors(at)
    assert len(hits(at)) >= 5
    assert len(embedded) == 1 and 2 <= embedded[0] <= SEMANTIC_BUDGET, embedded
    assert sum('<mark class="l2v-passage">' in h for h in hits(at)) >= 1
    embedded.clear()
    at.toggle(key="search_group").set_value(True).run()                # any rerun of the same page
    at.run()
    no_errors(at)
    assert embedded == []


# ------------------------------------------------------------------ item 6: titles read as a reader sees them
def test_sphinx_role_prefixes_and_escaped_spaces_leave_titles():
    from indexer import extract

    source = ":mod:`!contextlib` --- Utilities for :keyword:`!with`\\ -statement contexts\n" + "=" * 90 + "\n\nText.\n"
    assert extract("contextlib.rst", source.encode()).title == "contextlib — Utilities for with-statement contexts"
    assert extract("p.rst", b"Using :func:`~os.path.join`\n" + b"=" * 40 + b"\n\nx\n").title == "Using join"
    assert extract("m.md", b"# Using \\*args and :mod:`os`\n\nx\n").title == "Using \\*args and os"  # only \\ + space


# ------------------------------------------------------------------ item 6: one dense/hybrid default
def _cli():
    import typer

    from indexer.cli import register

    app = typer.Typer()
    register(app)
    return app


def test_one_dense_or_hybrid_default_for_cli_server_search_and_compare(monkeypatch, ui_db):
    import json

    from typer.testing import CliRunner

    from indexer import DEFAULT_HYBRID
    from search_ui.server import SearchRequest

    assert DEFAULT_HYBRID is True                  # measured: hybrid >= dense on SciFact (BENCHMARKS.md)
    assert SearchRequest.parse({"query": "walrus"}).hybrid is DEFAULT_HYBRID            # l2v serve
    runner = CliRunner()
    runs = {flag: runner.invoke(_cli(), ["search", str(ui_db), "assignment expression", "-k", "3", "--chunks",
                                         "--json", *([flag] if flag else [])]) for flag in ("", "--hybrid", "--dense")}
    assert all(r.exit_code == 0 for r in runs.values()), {f: r.output[-500:] for f, r in runs.items()}
    ranked = {flag: json.loads(r.stdout) for flag, r in runs.items()}
    assert ranked[""] == ranked["--hybrid"] and any(h["bm25_rank"] for h in ranked[""])   # l2v search
    assert all(h["bm25_rank"] is None for h in ranked["--dense"])
    at = app(monkeypatch, ui_db)
    assert at.toggle(key="search_hybrid").value is DEFAULT_HYBRID                        # Search page
    at = app(monkeypatch, ui_db, "compare")
    assert at.toggle(key="compare_hybrid").value is DEFAULT_HYBRID                       # Compare page


# ------------------------------------------------------------------ item 6: a query of punctuation is blank
def test_a_query_with_no_letter_or_digit_is_blank_everywhere(monkeypatch, ui_db):
    from typer.testing import CliRunner

    from indexer import Index, UsageError, blank_query
    from search_ui.server import SearchService

    assert all(blank_query(q) for q in ("", "  ", "?!...", "— …", None))
    assert not any(blank_query(q) for q in ("3", "é", "C++", "?x"))
    with Index.open(ui_db) as idx:
        for call in (idx.search, idx.search_documents):
            with pytest.raises(UsageError, match="query is empty"):
                call("?!...")
    result = CliRunner().invoke(_cli(), ["search", str(ui_db), "?!..."])
    assert isinstance(result.exception, UsageError) and "query is empty" in str(result.exception)
    with pytest.raises(UsageError, match="query is empty"):                  # the server answers it as a 400
        SearchService(ui_db, warm=False).search({"query": "?!..."})
    for page, key in (("search", "search_query"), ("compare", "compare_query")):
        at = app(monkeypatch, ui_db, page)
        at.text_input(key=key).input("?!...").run()
        no_errors(at)
        assert not hits(at) and any("no letter or digit" in i.value for i in at.info), [i.value for i in at.info]


# ------------------------------------------------------------------ item 6: the demo prints documents
def test_the_demo_prints_each_document_once_with_scores_a_reader_knows(ui_db):
    from indexer import Index
    from search_ui.demo import sample_search

    with Index.open(ui_db) as idx:
        lines = sample_search(idx, "walrus operator", ["hash", "tiny"])
    sections: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("["):
            current = sections.setdefault(line, [])
        elif line.startswith("  "):
            current.append(line)
    assert list(sections) == ["[hash, hybrid: dense weight 0.5 + BM25]", "[tiny, hybrid: dense weight 0.5 + BM25]"]
    for shown in sections.values():
        paths = [line.split()[1] for line in shown]
        assert len(paths) == 5 and len(set(paths)) == 5, shown                   # documents, each once
        assert all(line.rstrip().endswith(")") and ("cosine 0." in line or "BM25 rank" in line) for line in shown)
        assert not any(" 0.01" in line for line in shown)                        # no fused RRF scores
    assert sections["[hash, hybrid: dense weight 0.5 + BM25]"][0].split()[1] == "notes/walrus.md"


def test_the_demo_refuses_a_blank_query_before_indexing(tmp_path):
    import typer
    from typer.testing import CliRunner

    from indexer import L2VError
    from search_ui import demo

    app = typer.Typer()
    demo.register(app)
    app.command("noop")(lambda: None)          # two commands: typer keeps "demo" as a sub-command
    result = CliRunner().invoke(app, ["demo", "--no-ui", "--query", "?!", "--docs", str(tmp_path),
                                      "--db", str(tmp_path / "db")])
    assert isinstance(result.exception, L2VError) and "query is empty" in str(result.exception)
    assert not (tmp_path / "db").exists()


# ------------------------------------------------------------------ item 6: the UI's small details
def test_compare_table_leaves_absent_ranks_empty(monkeypatch, ui_db):
    at = app(monkeypatch, ui_db, "compare")
    at.text_input(key="compare_query").input("walrus operator").run()
    no_errors(at)
    ranks = at.dataframe[1].value
    cells = [v for name in ("hash", "tiny") for v in ranks[name]]
    assert "" in cells and all(v is not None and str(v) not in ("None", "nan") for v in cells), cells
    assert "(empty: not in its top 10)" in " ".join(c.value for c in at.caption)


def test_index_page_runs_table_fits(monkeypatch, ui_db):
    at = app(monkeypatch, ui_db, "index")
    no_errors(at)
    runs = at.dataframe[1].value
    assert list(runs.columns) == ["run", "started", "took", "status", "encoders", "documents", "chunks"]
    assert runs["status"][0] == "done" and " seen: +" in runs["documents"][0] and "embedded" in runs["chunks"][0]


def test_keyword_search_treats_punctuation_as_a_blank_query(ui_db):
    from indexer import Index, UsageError
    from indexer.keyword import keyword_documents, keyword_search

    with Index.open(ui_db) as idx:
        for call in (keyword_search, keyword_documents):
            with pytest.raises(UsageError, match="query is empty"):
                call(idx, "?!...")
        assert keyword_search(idx, "walrus", k=2)
