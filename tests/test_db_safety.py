"""What ``--db`` may point at (issue 21, item 4): a new or empty folder or an l2v database, apart from the
documents; nothing else is ever written to, and a creation killed before its first commit is completed
with the encoders it was asked for (never silently with the default one).

Real components: SQLite files, FAISS, the suite's ``hash:DIM`` encoder, SIGKILLed subprocesses and the
real ``l2v`` entry point for the one-line CLI refusals.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexer import Index, build_index
from indexer.errors import UsageError
from indexer.store.layout import CRASH_ENV
from indexer.store.location import CREATING_NAME, RULE

from indexer_helpers import chunk_state, hash_options, make_corpus

REPO = Path(__file__).resolve().parents[1]


def l2v(*args) -> subprocess.CompletedProcess:
    code = f"import sys\nsys.argv = ['l2v', *{[str(a) for a in args]!r}]\nfrom search_ui.l2v import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), to show nothing was written or deleted."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def someone_elses_folder(path: Path) -> Path:
    """A folder with the names a database uses (index.json, faiss/, tokenizer/) that l2v did not write."""
    (path / "faiss").mkdir(parents=True)
    (path / "tokenizer").mkdir()
    (path / "index.json").write_text('{"mine": true}')
    (path / "faiss" / "vectors.faiss").write_bytes(b"precious")
    (path / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    (path / "notes.txt").write_text("keep me")
    return path


@pytest.mark.parametrize("rebuild", [False, True])
def test_a_folder_that_is_not_a_database_is_refused_and_left_untouched(tmp_path, rebuild):
    make_corpus(tmp_path / "docs", 3)
    other = someone_elses_folder(tmp_path / "other")
    before = snapshot(other)
    with pytest.raises(UsageError, match="not an l2v database") as refused:
        build_index(tmp_path / "docs", other, {"h": "hash:32"}, hash_options(rebuild=rebuild))
    assert RULE in str(refused.value)
    assert snapshot(other) == before and sorted(p.name for p in other.iterdir()) == [
        "faiss", "index.json", "notes.txt", "tokenizer"]  # not even a .lock


def test_a_file_or_a_foreign_sqlite_file_is_refused(tmp_path):
    make_corpus(tmp_path / "docs", 2)
    (tmp_path / "file.l2v").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        build_index(tmp_path / "docs", tmp_path / "file.l2v", {"h": "hash:32"}, hash_options())
    import sqlite3

    (tmp_path / "app").mkdir()
    con = sqlite3.connect(tmp_path / "app" / "metadata.sqlite")
    con.execute("CREATE TABLE photos (id INTEGER)")
    con.commit()
    con.close()
    before = snapshot(tmp_path / "app")
    with pytest.raises(UsageError, match="not an l2v database"):
        build_index(tmp_path / "docs", tmp_path / "app", {"h": "hash:32"}, hash_options())
    assert snapshot(tmp_path / "app") == before


@pytest.mark.parametrize("where", ["same", "inside", "containing"])
def test_the_database_and_the_documents_never_hold_one_another(tmp_path, where):
    docs = tmp_path / "work" / "docs"
    make_corpus(docs, 3)
    db = {"same": docs, "inside": docs / "index.l2v", "containing": tmp_path / "work"}[where]
    before = snapshot(tmp_path / "work")
    with pytest.raises(UsageError, match={"same": "is the documents folder itself", "inside": "is inside the documents",
                                          "containing": "contains the documents"}[where]) as refused:
        build_index(docs, db, {"h": "hash:32"}, hash_options())
    assert RULE in str(refused.value) and "\n" not in str(refused.value)
    assert snapshot(tmp_path / "work") == before and not (docs / "index.l2v").exists()


def test_an_empty_folder_becomes_a_database_and_a_failed_creation_leaves_it_empty(tmp_path):
    make_corpus(tmp_path / "docs", 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception):
        build_index(tmp_path / "docs", tmp_path / "empty", {"h": str(tmp_path / "no-such-encoder")}, hash_options())
    assert (tmp_path / "empty").is_dir() and list((tmp_path / "empty").iterdir()) == []
    report = build_index(tmp_path / "docs", tmp_path / "empty", {"h": "hash:32"}, hash_options())
    assert report.docs_added == 3 and not (tmp_path / "empty" / CREATING_NAME).exists()
    again = build_index(tmp_path / "docs", tmp_path / "empty", None, hash_options())  # an l2v database now
    assert again.docs_unchanged == 3


def _killed_creation(tmp_path: Path, step: str, extra: list[str] = ()) -> Path:
    """``python -m l2v_doubles DOCS DB`` (encoder ``hash-64``) SIGKILLed at ``step``."""
    db = tmp_path / "db"
    env = {**os.environ, CRASH_ENV: step}
    run = subprocess.run([sys.executable, "-m", "l2v_doubles", str(tmp_path / "docs"), str(db), "--chunk-tokens",
                          "32", "--overlap", "4", *extra], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == -9, run.stderr
    return db


@pytest.mark.parametrize("step", ["create_before_sqlite", "setup_before_commit"])
def test_a_creation_killed_before_its_first_commit_is_completed_with_the_same_encoder(tmp_path, step):
    make_corpus(tmp_path / "docs", 4)
    db = _killed_creation(tmp_path, step)
    assert (db / CREATING_NAME).is_file()
    # rerun as a user would, without --encoder: the recorded encoder, not the bundled default
    run = l2v("index", tmp_path / "docs", "--db", db, "--chunk-tokens", "32", "--overlap", "4")
    assert run.returncode == 0, run.stderr
    assert "half-created" in run.stderr and "hash-64" in run.stderr and "default encoder" not in run.stderr
    with Index.open(db) as idx:
        assert [e.name for e in idx.encoders()] == ["hash-64"] and not idx.status().problems
    assert not (db / CREATING_NAME).exists()
    build_index(tmp_path / "docs", tmp_path / "clean", {"hash-64": "hash:64"}, hash_options())
    assert chunk_state(db) == chunk_state(tmp_path / "clean")


def test_a_rebuild_killed_before_its_first_commit_keeps_the_recorded_encoder(tmp_path):
    make_corpus(tmp_path / "docs", 4)
    build_index(tmp_path / "docs", tmp_path / "db", {"mine": "hash:48"}, hash_options())
    code = ("import sys; from indexer import build_index; from indexer_helpers import hash_options\n"
            f"build_index({str(tmp_path / 'docs')!r}, {str(tmp_path / 'db')!r}, None, hash_options(rebuild=True))")
    run = subprocess.run([sys.executable, "-c", code], env={**os.environ, CRASH_ENV: "setup_before_commit"},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == -9, run.stderr
    report = build_index(tmp_path / "docs", tmp_path / "db", None, hash_options())
    assert report.docs_added == 4
    with Index.open(tmp_path / "db") as idx:
        assert [(e.name, e.source) for e in idx.encoders()] == [("mine", "hash:48")]


def test_cli_refusals_are_one_line_and_write_nothing(tmp_path):
    make_corpus(tmp_path / "docs", 2)
    other = someone_elses_folder(tmp_path / "other")
    before = snapshot(other)
    for db in (other, tmp_path / "docs"):
        run = l2v("index", tmp_path / "docs", "--db", db, "--encoder", "hash:32", "--rebuild")
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and RULE in run.stderr
    assert snapshot(other) == before


@pytest.mark.parametrize("option,value,named", [
    ("chunk_tokens", 0, "--chunk-tokens 0"), ("chunk_tokens", 4, "--chunk-tokens 4"), ("overlap", -1, "--overlap -1"),
    ("exclude", ["[z-a]"], "--exclude"), ("include", ["docs/[9-0]*.md"], "--include")])
def test_bad_option_values_are_one_line_and_create_nothing(tmp_path, option, value, named):
    """--chunk-tokens 0 used to mean 400 silently; a bad glob failed mid-run and left an empty, failed database."""
    make_corpus(tmp_path / "docs", 2)
    with pytest.raises(UsageError) as refused:
        build_index(tmp_path / "docs", tmp_path / "db", {"h": "hash:32"}, hash_options(**{option: value}))
    assert named in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "db").exists()


def test_max_mb_nan_or_inf_is_one_line(tmp_path):
    make_corpus(tmp_path / "docs", 1)
    for value in ("nan", "inf"):
        run = l2v("index", tmp_path / "docs", "--db", tmp_path / "db", "--encoder", "hash:32", "--max-mb", value)
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and f"--max-mb {value}" in run.stderr
    assert not (tmp_path / "db").exists()


def test_crafted_chunk_offsets_are_bounded_when_read(tmp_path):
    """A crafted ``end`` of 5e9 made readers that rebuild a document from its chunks allocate 5e9 characters."""
    import sqlite3

    from search_ui.documents import chunks_text

    make_corpus(tmp_path / "docs", 2)
    build_index(tmp_path / "docs", tmp_path / "db", {"h": "hash:32"}, hash_options())
    con = sqlite3.connect(tmp_path / "db" / "metadata.sqlite")
    chunk_id, document_id, n_chars = con.execute(
        "SELECT c.id, c.document_id, d.n_chars FROM chunks c JOIN documents d ON d.id = c.document_id "
        "ORDER BY c.id DESC LIMIT 1").fetchone()
    con.execute("UPDATE chunks SET \"end\" = 5000000000 WHERE id = ?", (chunk_id,))
    con.execute("UPDATE chunks SET start = -7 WHERE id = (SELECT MIN(id) FROM chunks WHERE document_id = ?)",
                (document_id,))
    con.commit()
    con.close()
    with Index.open(tmp_path / "db") as idx:
        chunks = idx.chunks(document_id=document_id)
        assert all(0 <= c.start and c.end == c.start + len(c.text) and c.start <= n_chars for c in chunks)
        hits = idx.search("notes", k=50)
        assert all(h.end == h.start + len(h.text) and h.end <= n_chars + len(h.text) for h in hits)
        assert len(chunks_text(idx, document_id)) <= 2 * n_chars
