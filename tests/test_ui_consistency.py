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
