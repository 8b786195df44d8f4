"""FAISS factory strings that parse but cannot work (issue 21, item 7): refused in one line before anything is
written, and a database that recorded one (an older l2v, or a crafted file) is reported when read and
rebuilt by ``l2v index`` from its stored chunks.

Real FAISS indexes, real SQLite files, the suite's ``hash:DIM`` encoder and the real ``l2v`` entry point.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from indexer import Index, build_index
from indexer.errors import FaissFileError, UsageError
from indexer.vectors import ACCEPTED, VectorStore, factory_problem

from indexer_helpers import chunk_state, hash_options, make_corpus

REPO = Path(__file__).resolve().parents[1]
# HNSW0/HNSW1 abort or crash the process on the first add, IVF0 stores nothing and every search raises,
# pre-transforms change the stored vectors, huge sizes allocate before the first vector, PQ5 cannot split 32,
# (a PQ without IVF refuses search parameters: every filtered search raised)
CANNOT_WORK = ["HNSW0", "HNSW1", "IVF0,Flat", "PCA32,Flat", "OPQ4,IVF4,PQ4", "IVF100000000,Flat", "IVF4,PQ5",
               "IVF4,PQ4x0", "PQ4x4", "Bogus42", "HNSW99999"]
ACCEPTED_FORMS = ["Flat", "IDMap2,Flat", "HNSW8", "IVF4,Flat", "IVF2,SQ8", "IVF2,PQ4x4"]


def l2v(*args) -> subprocess.CompletedProcess:
    code = f"import sys\nsys.argv = ['l2v', *{[str(a) for a in args]!r}]\nfrom search_ui.l2v import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.mark.parametrize("factory", CANNOT_WORK)
def test_a_factory_that_cannot_work_is_refused_before_anything_is_written(tmp_path, factory):
    make_corpus(tmp_path / "docs", 3)
    with pytest.raises(UsageError) as refused:
        build_index(tmp_path / "docs", tmp_path / "db", {"h": "hash:32"}, hash_options(factory=factory))
    message = str(refused.value)
    assert f"--faiss '{factory}'" in message and ACCEPTED in message and "\n" not in message
    assert not (tmp_path / "db").exists()


@pytest.mark.parametrize("factory", ACCEPTED_FORMS)
def test_every_accepted_form_builds_searches_and_is_consistent(tmp_path, factory):
    make_corpus(tmp_path / "docs", 12)
    report = build_index(tmp_path / "docs", tmp_path / "db", {"h": "hash:32"}, hash_options(factory=factory))
    assert factory_problem(factory, 32) is None and report.chunks_embedded["h"] >= 16  # enough to train PQ4x4
    with Index.open(tmp_path / "db") as idx:
        assert idx.status().problems == []
        assert idx.vectors("h").ntotal == report.chunks_embedded["h"]
        assert len(idx.search("rivers flow to the sea", k=5)) == 5


def _record_factory(db: Path, factory: str) -> None:
    """What an older l2v left behind: the factory string as given, in the encoder's row."""
    con = sqlite3.connect(db / "metadata.sqlite")
    con.execute("UPDATE encoders SET factory = ?", (factory,))
    con.commit()
    con.close()


@pytest.mark.parametrize("bad", ["HNSW0", "IVF0,Flat", "PCA32,Flat"])
def test_a_database_that_recorded_a_bad_factory_is_reported_then_rebuilt_by_l2v_index(tmp_path, bad):
    make_corpus(tmp_path / "docs", 6)
    db = tmp_path / "db"
    build_index(tmp_path / "docs", db, {"h": "hash:32"}, hash_options())
    chunks = chunk_state(db)
    _record_factory(db, bad)
    with Index.open(db) as idx:
        with pytest.raises(FaissFileError, match=f"factory '{bad}' cannot work.*l2v index"):
            idx.search("rivers", k=3)
        assert any("cannot work" in p for p in idx.status().problems)
    report = build_index(tmp_path / "docs", db, None, hash_options())  # l2v index is the repair command
    assert f"'{bad}' cannot work" in report.repaired["h"] and "'Flat'" in report.repaired["h"]
    assert chunk_state(db) == chunks  # nothing indexed is lost: the chunks stay, their vectors are re-embedded
    with Index.open(db) as idx:
        assert idx.encoders()[0].factory == "Flat" and idx.status().problems == []
        assert idx.vectors("h").ntotal == len(chunks) and len(idx.search("rivers", k=3)) == 3


def test_a_bad_recorded_factory_is_replaced_by_the_one_given_and_by_flat_on_rebuild(tmp_path):
    make_corpus(tmp_path / "docs", 6)
    db = tmp_path / "db"
    build_index(tmp_path / "docs", db, {"h": "hash:32"}, hash_options())
    _record_factory(db, "HNSW0")
    report = build_index(tmp_path / "docs", db, None, hash_options(factory="HNSW8"))  # no --rebuild needed
    assert "'HNSW8'" in report.repaired["h"]
    with Index.open(db) as idx:
        assert idx.encoders()[0].factory == "HNSW8" and idx.status().problems == []
    _record_factory(db, "IVF0,Flat")
    report = build_index(tmp_path / "docs", db, None, hash_options(rebuild=True))
    assert "'IVF0,Flat' cannot work" in report.repaired["h"]
    with Index.open(db) as idx:
        assert idx.encoders()[0].factory == "Flat" and idx.status().problems == []


def test_loading_a_store_never_runs_a_factory_that_cannot_work(tmp_path):
    with pytest.raises(FaissFileError, match="HNSW0"):
        VectorStore.create(32, "HNSW0")
    VectorStore.create(32, "Flat").save(tmp_path / "flat.faiss")
    with pytest.raises(FaissFileError, match="PCA32"):
        VectorStore.load(tmp_path / "flat.faiss", "PCA32,Flat")


def test_cli_refuses_hnsw0_in_one_line_and_repairs_a_database_that_recorded_it(tmp_path):
    make_corpus(tmp_path / "docs", 4)
    run = l2v("index", tmp_path / "docs", "--db", tmp_path / "new", "--encoder", "hash:32", "--faiss", "HNSW0")
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "--faiss 'HNSW0'" in run.stderr and "accepted" in run.stderr
    assert not (tmp_path / "new").exists()
    build_index(tmp_path / "docs", tmp_path / "db", {"h": "hash:32"}, hash_options())
    _record_factory(tmp_path / "db", "HNSW0")
    run = l2v("index", tmp_path / "docs", "--db", tmp_path / "db", "--chunk-tokens", "32", "--overlap", "4")
    assert run.returncode == 0, run.stderr  # used to abort (exit 134) on every run
    assert "repaired encoder h: its FAISS factory 'HNSW0' cannot work" in run.stderr
