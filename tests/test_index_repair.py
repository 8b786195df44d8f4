"""Failures around a database: damaged FAISS files, read-only databases, a full disk, killed runs, globs.

CLI checks run the real ``l2v`` entry point in a subprocess: one error line, an exit code, no traceback.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import faiss
import numpy as np
import pytest

from indexer import Index, build_index
from indexer.errors import FaissFileError
from indexer.store.layout import CRASH_ENV, faiss_path
from indexer.sources.walk import glob_match

from indexer_helpers import QUERIES, hash_options, make_corpus, write_doc

REPO = Path(__file__).resolve().parents[1]


def l2v(*args, prelude: str = "", user: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``l2v ARGS`` in a fresh interpreter (``prelude``: Python run first, e.g. to inject a fault)."""
    code = f"{prelude}\nimport sys\nsys.argv = ['l2v', *{[str(a) for a in args]!r}]\n" \
           "from search_ui.l2v import main\nmain()\n"
    command = [sys.executable, "-c", code]
    if user:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    env = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"]}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd or REPO, timeout=300)


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    """The error line (progress bars may precede it on stderr): the only one, the last one, no traceback."""
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    assert "Traceback" not in result.stderr and len(errors) == 1 and lines[-1].startswith("error: "), result.stderr
    return lines[-1]


def _signature(db: Path, where=None) -> list[list[tuple]]:
    with Index.open(db) as idx:
        return [[(h.path, h.start, round(h.score, 5)) for h in idx.search(q, k=5, where=where)] for q in QUERIES]


def _live_faiss(db: Path) -> Path:
    with Index.open(db) as idx:
        row = idx.encoders()[0]
    return faiss_path(db, row.id, row.name, row.generation)


def _legacy_layout(path: Path, factory: str, update: bool) -> None:
    """Rewrite ``path`` the way l2v did before IVF stored its own ids: IndexIDMap2 around the IVF; with
    ``update``, then removing vectors from the middle and adding them back (all ids there, mislabelled)."""
    from indexer.vectors.store import VectorStore

    store = VectorStore.load(path, factory)
    ids = np.sort(store.ids())
    vectors = store.reconstruct(ids)
    empty = faiss.clone_index(store.inner)
    empty.set_direct_map_type(faiss.DirectMap.NoMap)
    empty.reset()
    legacy = faiss.IndexIDMap2(empty)
    legacy.add_with_ids(vectors, ids)
    if update:
        middle = ids[len(ids) // 3: len(ids) // 3 + 5]
        legacy.remove_ids(faiss.IDSelectorBatch(middle))
        legacy.add_with_ids(vectors[np.searchsorted(ids, middle)], middle)
    faiss.write_index(legacy, str(path))


@pytest.mark.parametrize("damage", ["missing", "corrupt", "legacy-mislabelled"])
def test_a_damaged_faiss_file_is_reported_then_rebuilt_from_the_stored_chunks(tmp_path, damage):
    docs, db = tmp_path / "docs", tmp_path / "db"
    make_corpus(docs, 20, paragraphs=3)
    factory = "IVF4,Flat"
    build_index(docs, db, {"h": "hash:32"}, hash_options(factory=factory))
    before = _signature(db)
    path = _live_faiss(db)
    if damage == "missing":
        path.unlink()
    elif damage == "corrupt":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        _legacy_layout(path, factory, update=True)

    with Index.open(db) as idx:                                       # search: one line saying what to do
        with pytest.raises(FaissFileError, match=r"run `l2v index .* --db .*` to rebuild it"):
            idx.search(QUERIES[0])
    status = l2v("status", db)                                        # status: reports, does not crash
    assert status.returncode == 0, status.stderr
    assert "CONSISTENCY PROBLEMS" in status.stdout and path.name in status.stdout
    search = l2v("search", db, QUERIES[0])
    assert search.returncode == 15 and "l2v index" in _one_error_line(search)

    repair = l2v("index", docs, "--db", db)                           # index: repairs, and says so
    assert repair.returncode == 0, repair.stderr
    expected = {"missing": "is missing", "corrupt": "corrupt", "legacy-mislabelled": "mislabels vectors"}[damage]
    assert f"repaired encoder h: {path.name}" in repair.stderr and expected in repair.stderr
    assert "re-embedding its" in repair.stderr
    with Index.open(db) as idx:
        assert idx.check_consistency() == []
        assert idx.encoders()[0].factory == factory and not idx.vectors().staged
    assert _signature(db) == before
    assert "consistency: ok" in l2v("status", db).stdout


def test_a_legacy_ivf_file_with_intact_ids_still_loads(tmp_path):
    """Files of the old layout that never lost a vector are converted on load, not thrown away."""
    docs, db = tmp_path / "docs", tmp_path / "db"
    make_corpus(docs, 20, paragraphs=3)
    build_index(docs, db, {"h": "hash:32"}, hash_options(factory="IVF4,Flat"))
    before = _signature(db)
    _legacy_layout(_live_faiss(db), "IVF4,Flat", update=False)
    with Index.open(db) as idx:
        assert idx.check_consistency() == []
    assert _signature(db) == before


def test_rebuild_without_encoder_keeps_the_recorded_encoder_and_factory(tmp_path):
    docs, db = tmp_path / "docs", tmp_path / "db"
    make_corpus(docs, 8)
    build_index(docs, db, {"h": "hash:32"}, hash_options(factory="HNSW8"))
    before = _signature(db)
    report = build_index(docs, db, None, hash_options(rebuild=True))
    assert report.docs_added == 8 and report.chunks_embedded == {"h": report.chunks_added}
    with Index.open(db) as idx:
        (row,) = idx.encoders()
        assert (row.name, row.source, row.factory) == ("h", "hash:32", "HNSW8")
    assert _signature(db) == before


@pytest.mark.parametrize("fault", ["faiss-enospc", "sqlite-full"])
def test_disk_full_is_one_line_marks_the_run_failed_and_keeps_the_previous_state(tmp_path, fault):
    docs, db = tmp_path / "docs", tmp_path / "db"
    paths = make_corpus(docs, 12)
    build_index(docs, db, {"h": "hash:32"}, hash_options(factory="IVF4,Flat"))
    before = _signature(db)
    for i, path in enumerate(paths[:3]):
        write_doc(path, 700 + i)                                      # the next run removes and adds vectors
    if fault == "faiss-enospc":                                       # a real OSError at the FAISS write
        prelude = ("import errno, os, faiss\n"
                   "def full(index, path):\n"
                   "    open(path, 'wb').write(b'partial')\n"
                   "    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)\n"
                   "faiss.write_index = full\n")
    else:                                                             # SQLite refusing a commit
        prelude = ("import sqlite3, sqlalchemy.exc\n"
                   "from indexer.build import _Builder\n"
                   "def full(*args):\n"
                   "    raise sqlalchemy.exc.OperationalError('COMMIT', {}, "
                   "sqlite3.OperationalError('database or disk is full'))\n"
                   "_Builder._commit_membership = full\n")
    result = l2v("index", docs, "--db", db, prelude=prelude)
    line = _one_error_line(result)
    assert result.returncode == 17
    assert ("disk full" if fault == "faiss-enospc" else "database or disk is full") in line
    assert "free some space" in line
    assert not [p.name for p in db.rglob("*") if ".tmp-" in p.name]  # no temp file left on the full disk
    with Index.open(db) as idx:
        assert idx.runs()[0].status == "failed"
        assert idx.check_consistency() == []
        live_files = {faiss_path(db, e.id, e.name, e.generation) for e in idx.encoders()}
    assert set((db / "faiss").iterdir()) == live_files               # nothing uncommitted left behind
    if fault == "faiss-enospc":
        assert _signature(db) == before                               # the removal batch rolled back whole
    build_index(docs, db, None, hash_options())                       # and the next run completes it
    with Index.open(db) as idx:
        assert idx.runs()[0].status == "done" and idx.check_consistency() == []


def test_a_killed_run_shows_as_interrupted(tmp_path):
    docs, db = tmp_path / "docs", tmp_path / "db"
    make_corpus(docs, 6)
    env = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"], CRASH_ENV: "embed_before_commit"}
    killed = subprocess.run([sys.executable, "-m", "l2v_doubles", str(docs), str(db)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9
    with Index.open(db) as idx:
        assert idx.runs()[0].status == "interrupted"                 # its process is gone
    status = l2v("status", db)
    assert "interrupted" in status.stdout
    build_index(docs, db, None, hash_options(chunk_tokens=64, overlap=8))
    con = sqlite3.connect(db / "metadata.sqlite")
    assert [s for (s,) in con.execute("SELECT status FROM runs ORDER BY id")] == ["interrupted", "done"]
    con.close()


def test_a_running_run_of_a_live_writer_stays_running(tmp_path):
    docs, db = tmp_path / "docs", tmp_path / "db"
    make_corpus(docs, 3)
    build_index(docs, db, {"h": "hash:32"}, hash_options())
    con = sqlite3.connect(db / "metadata.sqlite")
    con.execute("INSERT INTO runs SELECT id + 1, started_at + 1, NULL, 'running', root, encoders, 0, 0, 0, 0, 0, "
                "0, 0, 0 FROM runs")
    con.commit()
    con.close()
    (db / ".lock").write_text(f"pid {os.getpid()}")                  # this process: alive
    with Index.open(db) as idx:
        assert [r.status for r in idx.runs()] == ["running", "done"]
    (db / ".lock").write_text("pid 0")
    with Index.open(db) as idx:
        assert [r.status for r in idx.runs()] == ["interrupted", "done"]


@pytest.mark.parametrize("what", ["file", "folder"])  # read-only metadata.sqlite, or everything
def test_a_read_only_database_opens_read_only_and_searches(tmp_path, what):
    """chmod makes the database (file, or its whole folder) read-only; search and status must work.

    Root ignores permissions, so as root the check runs as user nobody (setpriv), or is skipped."""
    as_root = os.geteuid() == 0
    if as_root and shutil.which("setpriv") is None:
        pytest.skip("running as root (permissions are ignored) and setpriv is not available")
    if as_root:
        probe = l2v("--help", prelude="import l2v_doubles", user="65534", cwd=Path(tempfile.gettempdir()))
        if probe.returncode != 0:   # e.g. a checkout under a 0700 folder (mktemp -d, /root): nobody cannot import it
            pytest.skip(f"user nobody cannot import this checkout: {probe.stderr.strip().splitlines()[-1:]}")
    base = Path(tempfile.mkdtemp(prefix="l2v-ro-")) if as_root else tmp_path
    try:
        docs, db = base / "docs", base / "db"
        make_corpus(docs, 6)
        build_index(docs, db, {"h": "hash:32"}, hash_options())
        expected = _signature(db)
        if as_root:
            os.chmod(base, 0o755)
            for path in [db, *db.rglob("*"), docs, *docs.rglob("*")]:
                os.chown(path, 65534, 65534)
        if what == "file":
            os.chmod(db / "metadata.sqlite", 0o444)
        else:                                                         # like a read-only mount: nothing writable
            for path in db.rglob("*"):
                os.chmod(path, 0o555 if path.is_dir() else 0o444)
            os.chmod(db, 0o555)
        user = "65534" if as_root else None
        search = l2v("search", db, QUERIES[0], "-k", "5", "--json", "--chunks", "--dense", user=user, cwd=base)
        assert search.returncode == 0, search.stderr
        assert [(h["path"], h["start"], round(h["score"], 5)) for h in json.loads(search.stdout)] == expected[0]
        status = l2v("status", db, user=user, cwd=base)
        assert status.returncode == 0 and "consistency: ok" in status.stdout, status.stderr
        if what == "folder":
            assert not (db / "metadata.sqlite-wal").exists() and not (db / "metadata.sqlite-shm").exists()
        write = l2v("index", docs, "--db", db, user=user, cwd=base)
        assert write.returncode != 0 and _one_error_line(write)
    finally:
        for folder in (base / "db" / "faiss", base / "db"):
            if folder.exists():
                os.chmod(folder, 0o755)
        if as_root:
            shutil.rmtree(base, ignore_errors=True)


def test_path_globs_with_character_classes(tmp_path):
    assert glob_match("peps/pep-0001.rst", "pep-00[0-3]*") and not glob_match("pep-0041.rst", "pep-00[0-3]*")
    assert glob_match("pep-0041.rst", "pep-00[!0-3]*") and glob_match("a]b", "a[]]b") and glob_match("a[b", "a[b")
    assert not glob_match("a/b", "a[/]b") and glob_match("x/pep-0001.rst", "**/pep-000[1]*")
    docs, db = tmp_path / "docs", tmp_path / "db"
    make_corpus(docs, 12)
    build_index(docs, db, {"h": "hash:32"}, hash_options())
    with Index.open(db) as idx:
        hits = idx.search(QUERIES[0], k=50, where={"path": "doc00[0-3]*"})
        assert {h.path for h in hits} == {"b/doc000.md", "a/doc001.md", "b/doc002.md", "a/doc003.md"}
        assert [d.path for d in idx.documents(where={"path": "a/doc01[!0]*"})] == ["a/doc011.md"]
