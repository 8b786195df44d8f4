"""Ingestion: formats, bad files (skipped with a reason), the folder walk, and chunking."""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pytest

from indexer import Index, build_index
from indexer.chunking.chunker import ChunkingConfig, chunk_text
from indexer.sources.extract import extract
from indexer.sources.walk import FileEntry, Problem, Walker, glob_match
from l2v_doubles import WordTokenizer

from indexer_helpers import as_nobody as _as_nobody, hash_options, make_corpus, minimal_pdf


def _docx(title: str, body: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, 0)
    document.add_paragraph(body)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_every_format_is_extracted_with_a_title(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text("Intro line\n\n## Rivers and seas\n\nRivers flow to the sea.\n")
    (docs / "guide.rst").write_text("Mountain Guide\n==============\n\nThe summit is the highest point.\n")
    (docs / "page.html").write_text("<html><head><title>Capitals</title><style>p{color:red}</style>"
                                    "<script>var hidden = 1;</script></head><body><h1>Europe</h1>"
                                    "<p>Paris is the capital of France &amp; more.</p></body></html>")
    (docs / "paper.pdf").write_bytes(minimal_pdf("Neural networks learn representations"))
    (docs / "report.docx").write_bytes(_docx("Quarterly Report", "The library opens at nine."))
    (docs / "tool.py").write_text("def add(a, b):\n    return a + b\n")
    (docs / "plain.txt").write_text("Just text without heading.\n")
    (docs / "latin.txt").write_bytes("Café crème, naïve façade.".encode("cp1252"))
    build_index(docs, tmp_path / "db", {"h": "hash:32"}, hash_options())
    with Index.open(tmp_path / "db") as idx:
        got = {d.path: d for d in idx.documents()}
        assert idx.skipped() == []
        text = {p: " ".join(c.text for c in idx.chunks(document_id=d.id)) for p, d in got.items()}
    assert got["notes.md"].title == "Rivers and seas"
    assert got["guide.rst"].title == "Mountain Guide"
    assert got["page.html"].title == "Capitals" and "capital of France & more" in text["page.html"]
    assert "hidden" not in text["page.html"] and "color" not in text["page.html"]
    assert "Neural networks learn representations" in text["paper.pdf"] and got["paper.pdf"].doc_type == "pdf"
    assert got["report.docx"].title == "Quarterly Report" and "library opens at nine" in text["report.docx"]
    assert got["tool.py"].title == "tool.py" and "return a + b" in text["tool.py"]
    assert got["plain.txt"].title == "plain.txt"
    assert "Café crème" in text["latin.txt"]


def test_bad_files_are_skipped_with_their_reason_and_the_run_continues():
    # outside pytest's 0700 tmp dir so the unprivileged effective user can reach it
    base = Path(tempfile.mkdtemp(prefix="l2v-bad-"))
    os.chmod(base, 0o777)
    docs = base / "docs"
    make_corpus(docs, 2)
    (docs / "empty.md").write_bytes(b"")
    (docs / "blank.txt").write_text("  \n\n \t\n")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\ntrailer garbage")
    (docs / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip archive")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 2)
    (docs / "program").write_bytes(b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64)
    (docs / "undecodable.txt").write_bytes(b"\x81\x8d\x8f\x90\x9d" * 40)
    (docs / "big.md").write_text("word " * 400)
    secret = docs / "secret.md"
    secret.write_text("You may not read this.")
    os.chmod(secret, 0o000)
    os.mkfifo(docs / "pipe.txt")  # opening a FIFO would block forever: it must never be opened
    (docs / "dangling.md").symlink_to(docs / "does-not-exist.md")
    for path in [docs, *docs.rglob("*")]:
        if path.is_dir():
            os.chmod(path, 0o777)
    db = base / "db"
    db.mkdir()
    os.chmod(db, 0o777)
    report = _as_nobody(lambda: build_index(docs, db, {"h": "hash:32"}, hash_options(max_bytes=1000)))
    assert report.docs_added == 2
    with Index.open(db) as idx:
        reasons = {s.path: s.reason for s in idx.skipped()}
        details = {s.path: s.detail for s in idx.skipped()}
    assert reasons == {"empty.md": "empty", "blank.txt": "empty", "broken.pdf": "corrupt", "broken.docx": "corrupt",
                       "binary.txt": "binary", "program": "binary", "undecodable.txt": "undecodable",
                       "big.md": "too_large", "secret.md": "unreadable", "pipe.txt": "unreadable",
                       "dangling.md": "unreadable"}
    assert "Permission denied" in details["secret.md"] and "FIFO" in details["pipe.txt"]
    assert "broken symlink" in details["dangling.md"] and "limit 1000" in details["big.md"]
    # an unchanged skipped file is not read again; a fixed one is indexed and leaves the skipped table
    again = _as_nobody(lambda: build_index(docs, db, None, hash_options(max_bytes=1000)))
    assert again.docs_added == 0 and again.chunks_embedded == {"h": 0}
    (docs / "empty.md").write_text("# Now with content\n\nRivers and mountains.\n")
    fixed = _as_nobody(lambda: build_index(docs, db, None, hash_options(max_bytes=1000)))
    assert fixed.docs_added == 1
    with Index.open(db) as idx:
        assert "empty.md" not in {s.path for s in idx.skipped()}
        assert idx.documents(where={"path": "empty.md"})[0].title == "Now with content"
        assert idx.check_consistency() == []
    os.chmod(secret, 0o600)
    import shutil

    shutil.rmtree(base)


def test_walk_hidden_files_symlink_loops_and_globs(tmp_path):
    docs = tmp_path / "docs"
    make_corpus(docs, 4)
    (docs / ".hidden.md").write_text("hidden file")
    (docs / ".git").mkdir()
    (docs / ".git" / "config.md").write_text("inside a hidden folder")
    (docs / "a" / "loop").symlink_to(docs)               # a symlink loop back to the root
    (docs / "b" / "again").symlink_to(docs / "a")        # a second way into the same folder
    (docs / "build").mkdir()
    (docs / "build" / "out.md").write_text("generated")
    (docs / "image.png").write_bytes(b"\x89PNG")           # not a text suffix: ignored without a skip entry
    rels = lambda walker: sorted(e.rel for e in walker if isinstance(e, FileEntry))  # noqa: E731
    plain = rels(Walker(docs))
    assert plain == ["a/doc001.md", "a/doc003.md", "b/doc000.md", "b/doc002.md", "build/out.md"]
    assert ".hidden.md" in rels(Walker(docs, hidden=True)) and ".git/config.md" in rels(Walker(docs, hidden=True))
    assert rels(Walker(docs, exclude=["build/**"])) == plain[:-1]
    assert rels(Walker(docs, include=["a/*.md"])) == ["a/doc001.md", "a/doc003.md"]
    assert rels(Walker(docs, include=["*.png"])) == ["image.png"]
    assert not any(isinstance(e, Problem) for e in Walker(docs))
    # a database inside the indexed folder is refused (tests/test_db_safety.py); the walker still never
    # walks into one named in skip_paths
    assert rels(Walker(docs, skip_paths=[docs / "b"])) == ["a/doc001.md", "a/doc003.md", "build/out.md"]


@pytest.mark.parametrize("rel,pattern,expected", [
    ("a/b/c.md", "*.md", True), ("a/b/c.md", "a/**", True), ("a/b/c.md", "a/*.md", False),
    ("a/b/c.md", "**/c.md", True), ("c.md", "**/c.md", True), ("build/x/y.txt", "build/**", True),
    ("rebuild/x.txt", "build/**", False), ("a/c.rst", "*.md", False), ("a/c1.md", "a/c?.md", True)])
def test_glob_semantics(rel, pattern, expected):
    assert glob_match(rel, pattern) is expected


def test_chunking_limits_overlap_offsets_and_boundaries():
    sentences = [f"Sentence number {i} talks about rivers and mountains." for i in range(40)]
    text = "\n\n".join(" ".join(sentences[i:i + 4]) for i in range(0, 40, 4))
    tokenizer = WordTokenizer()
    config = ChunkingConfig(max_tokens=50, overlap=10)
    chunks = chunk_text(text, tokenizer, config)
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        assert len(tokenizer.offsets(chunk.text)) == chunk.n_tokens <= 50
        assert chunk.text.endswith(".")  # every cut falls on a sentence or paragraph boundary
    for previous, nxt in zip(chunks, chunks[1:]):
        assert previous.start < nxt.start < previous.end  # consecutive chunks overlap ...
        shared = len(tokenizer.offsets(text[nxt.start:previous.end]))
        assert 0 < shared <= 10                          # ... by at most `overlap` tokens
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    no_overlap = chunk_text(text, tokenizer, ChunkingConfig(max_tokens=50, overlap=0))
    assert all(a.end <= b.start for a, b in zip(no_overlap, no_overlap[1:]))
    unbroken = "x" * 10 + " " + "y" * 10  # no good boundary: still progresses and respects the limit
    assert [c.text for c in chunk_text(unbroken * 30, tokenizer, ChunkingConfig(8, 2))][0].count(" ") <= 7
    assert chunk_text("", tokenizer, config) == [] and chunk_text("   \n\n ", tokenizer, config) == []


def test_extract_refuses_binary_and_keeps_utf16():
    assert "héllo" in extract("u.txt", "\ufeffhéllo world".encode("utf-16")).text
    with pytest.raises(Exception, match="binary"):
        extract("x.txt", b"abc\x00def")


def test_symlinks_leading_outside_the_folder_are_skipped_not_indexed(tmp_path):
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    make_corpus(docs, 2)
    outside.mkdir()
    (outside / "secret.md").write_text("the secret outside the indexed folder")
    (docs / "a" / "leak.md").symlink_to(outside / "secret.md")
    (docs / "b" / "leakdir").symlink_to(outside)
    (docs / "a" / "alias.md").symlink_to(docs / "b" / "doc000.md")  # inside the folder: fine
    entries = list(Walker(docs))
    files = sorted(e.rel for e in entries if isinstance(e, FileEntry))
    problems = {e.rel: e for e in entries if isinstance(e, Problem)}
    assert "a/leak.md" in problems and "b/leakdir" in problems
    assert all(p.reason == "outside_root" for p in problems.values())
    assert "a/alias.md" in files and not any("leak" in f for f in files)
    build_index(docs, tmp_path / "db.l2v", {"h": "hash:32"}, hash_options())
    with Index.open(tmp_path / "db.l2v") as index:
        assert all("secret" not in c.text for c in index.chunks())
        assert {s.path for s in index.skipped()} >= {"a/leak.md", "b/leakdir"}


def test_titles_are_shown_without_markup(tmp_path):
    from indexer import Index, build_index
    from indexer.sources.extract import plain_title

    assert plain_title(":mod:`unittest.mock` --- mock object library") == "unittest.mock — mock object library"
    assert plain_title(":ref:`Logging <logging-howto>` HOWTO") == "Logging HOWTO"
    assert plain_title("The ``with`` statement and `Python <https://python.org>`_") == "The with statement and Python"
    assert plain_title("Using *args and **kwargs") == "Using *args and **kwargs"    # not emphasis: left alone
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "mock.rst").write_text(":mod:`unittest.mock` --- mock object library\n"
                                   "============================================\n\nMock objects replace parts.\n")
    (docs / "with.md").write_text("# The `with` statement\n\nContext managers.\n")
    build_index(docs, tmp_path / "db", {"h": "hash:32"}, hash_options())
    with Index.open(tmp_path / "db") as idx:
        assert {d.path: d.title for d in idx.documents()} == {"mock.rst": "unittest.mock — mock object library",
                                                              "with.md": "The with statement"}
