"""`l2v search DB` finds a running `l2v serve DB` by itself, and `--keyword` never loads a model (issue 20, item 4).

A real `l2v serve` process writes ``DB/serve.json``; `l2v search` without ``--server`` sends the search there
(``via http://...``), removes nothing, and falls back to searching in-process on any record it cannot trust:
a killed server, a dead port, another database's server, a non-loopback URL, a damaged file. Keyword mode
runs on a database whose encoder directory was deleted after indexing: it cannot have loaded the model.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from indexer import Index, build_index
from indexer.errors import UsageError
from indexer.remote import run_search
from indexer.serve_record import RECORD, live_server, write_record

from indexer_helpers import QUERIES, hash_options, make_corpus


@pytest.fixture(scope="module")
def app():
    from indexer.cli import register

    application = typer.Typer()
    register(application)
    return application


@pytest.fixture()
def db(tmp_path):
    make_corpus(tmp_path / "docs", 6, paragraphs=3)
    build_index(tmp_path / "docs", tmp_path / "db", {"hash-32": "hash:32"}, hash_options())
    return tmp_path / "db"


def start_serve(db: Path, log: Path) -> tuple[subprocess.Popen, dict]:
    """`l2v serve DB --port 0` as a user runs it; returns once its serve.json names it."""
    out = open(log, "wb")
    proc = subprocess.Popen([sys.executable, "-c", "from search_ui.l2v import main; main()", "serve", str(db),
                             "--port", "0"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"l2v serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            record = json.loads((db / RECORD).read_text())
            if record["pid"] == proc.pid:
                return proc, record
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"no {RECORD} after 120 s: {log.read_text()[-2000:]}")


def search(app, db: Path, *args: str):
    result = CliRunner().invoke(app, ["search", str(db), *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def answered_by(app, db: Path, *args: str) -> tuple[list[dict], str | None]:
    """The JSON results of `l2v search DB ARGS --json`, and the server the same search says it went through."""
    results = json.loads(search(app, db, *args, "--json").stdout)
    line = search(app, db, *args).stderr.strip().splitlines()[-1]     # "(N documents in M ms via URL)"
    return results, line.rstrip(")").split(" via ")[1] if " via " in line else None


def local(db: Path, query: str, **body) -> list[dict]:
    with Index.open(db) as idx:
        return run_search(idx, query, **body)


def test_search_goes_through_a_running_server_of_the_same_database(app, db, tmp_path):
    proc, record = start_serve(db, tmp_path / "serve.log")
    try:
        assert record["url"].startswith("http://127.0.0.1:") and record["db"] == str(db.resolve())
        assert answered_by(app, db, QUERIES[0], "-k", "3", "--hybrid") == (
            local(db, QUERIES[0], k=3, hybrid=True), record["url"])
        chunks = search(app, db, QUERIES[1], "-k", "4", "--chunks")
        assert f"(4 chunks in" in chunks.stderr and f"via {record['url']}" in chunks.stderr
        keyword = search(app, db, "rivers", "--keyword")       # loads no model: searched here, no server needed
        assert "via" not in keyword.stderr and "Rivers notes" in keyword.stdout
    finally:
        proc.send_signal(signal.SIGTERM)                       # `kill`: a clean stop removes the record
        assert proc.wait(timeout=30) == 0
    assert not (db / RECORD).exists()
    assert "via" not in search(app, db, QUERIES[0], "-k", "3").stderr


def test_a_killed_servers_record_is_ignored(app, db, tmp_path):
    proc, record = start_serve(db, tmp_path / "serve.log")
    proc.kill()
    proc.wait(timeout=30)
    assert (db / RECORD).exists()                             # SIGKILL leaves it behind ...
    started = time.monotonic()
    found = answered_by(app, db, QUERIES[2], "-k", "2", "--hybrid")   # ... and ignored: its pid is dead
    assert found == (local(db, QUERIES[2], k=2, hybrid=True), None)
    assert time.monotonic() - started < 30


@pytest.fixture()
def other_server(tmp_path):
    """A real server (in this process) of a different database."""
    from search_ui.server import SearchService, make_server

    make_corpus(tmp_path / "other-docs", 3)
    build_index(tmp_path / "other-docs", tmp_path / "other", {"hash-32": "hash:32"}, hash_options())
    service = SearchService(tmp_path / "other")
    httpd = make_server(service, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    service.close()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_records_that_cannot_be_trusted_are_ignored(app, db, other_server):
    from search_ui.testing import free_port

    untrusted = {
        "another database's server": lambda: write_record(db, other_server),
        "nothing listening": lambda: write_record(db, f"http://127.0.0.1:{free_port()}"),
        "a dead process": lambda: write_record(db, other_server, pid=dead_pid()),
        "a non-loopback URL": lambda: write_record(db, "http://10.255.255.1:8765"),
        "not a URL": lambda: write_record(db, "file:///etc/passwd"),
        "not JSON": lambda: (db / RECORD).write_text("{not json"),
        "no pid": lambda: (db / RECORD).write_text(json.dumps({"url": other_server})),
        "a bool pid": lambda: (db / RECORD).write_text(json.dumps({"url": other_server, "pid": True})),
    }
    want = local(db, QUERIES[3], k=2, hybrid=True)
    for why, make in untrusted.items():
        make()
        started = time.monotonic()
        assert live_server(db) is None, why
        assert answered_by(app, db, QUERIES[3], "-k", "2", "--hybrid") == (want, None), why
        assert time.monotonic() - started < 20, why
    write_record(db, other_server)                            # --server still reaches it, and says it is another db
    named = CliRunner().invoke(app, ["search", str(db), "x", "--server", other_server])
    assert isinstance(named.exception, UsageError) and "this server serves" in str(named.exception)


# ------------------------------------------------------------------ keyword mode: BM25 only, no model
@pytest.fixture(scope="module")
def encoder_gone(tiny_model_dir, tmp_path_factory, app):
    """A database indexed with a real (tiny) encoder whose directory is deleted afterwards; the reference
    ranking (hybrid search at dense weight 0, computed while the encoder still existed)."""
    from adaptation import Encoder

    root = tmp_path_factory.mktemp("keyword")
    encoder = Encoder.from_pretrained(tiny_model_dir("llama")).save(root / "enc")
    make_corpus(root / "docs", 6, paragraphs=2)
    result = CliRunner().invoke(app, ["index", str(root / "docs"), "--db", str(root / "db"), "--encoder", str(encoder),
                                      "--chunk-tokens", "48", "--overlap", "8"])
    assert result.exit_code == 0, result.output
    with Index.open(root / "db") as idx:
        reference = [h for h in idx.search("rivers capital", k=50, hybrid=True, dense_weight=0.0)
                     if h.bm25_rank is not None]
    shutil.rmtree(encoder)
    return root / "db", reference


def test_keyword_search_needs_no_model(app, encoder_gone):
    db, reference = encoder_gone
    assert reference
    result = search(app, db, "rivers capital", "--keyword", "--chunks", "-k", "50", "--json")
    hits = json.loads(result.stdout)
    assert [h["chunk_id"] for h in hits] == [h.chunk_id for h in reference]
    assert [h["score"] for h in hits] == pytest.approx([h.score for h in reference])
    assert [h["bm25_rank"] for h in hits] == list(range(1, len(hits) + 1))
    documents = json.loads(search(app, db, "rivers capital", "--keyword", "-k", "3", "--json").stdout)
    assert len(documents) == 3 and documents[0]["path"] == reference[0].path
    fused = json.loads(search(app, db, "rivers capital", "--hybrid", "--dense-weight", "0", "--chunks", "-k", "50",
                              "--json").stdout)          # dense weight 0 is keyword search: no model either
    assert fused == hits
    only = json.loads(search(app, db, "rivers", "--keyword", "--path", "a/**", "--json").stdout)
    assert only and all(d["path"].startswith("a/") for d in only)
    dense = CliRunner().invoke(app, ["search", str(db), "rivers capital"])
    assert dense.exit_code != 0 and "enc" in str(dense.exception)   # the model was really needed otherwise


def test_keyword_mode_refuses_model_options_in_one_line(app, db):
    result = CliRunner().invoke(app, ["search", str(db), "rivers", "--keyword", "--instruction", "Find"])
    assert isinstance(result.exception, UsageError)
    assert "keyword search ranks by words alone; instruction" in str(result.exception)


def test_keyword_search_on_the_server(db, other_server):
    from search_ui.server import SearchService, make_server
    import urllib.request

    service = SearchService(db, warm=False)
    httpd = make_server(service, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/search"
        body = json.dumps({"query": "rivers", "keyword": True, "k": 2, "chunks": True}).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            hits = json.loads(response.read())["hits"]
        assert hits == local(db, "rivers", keyword=True, k=2, chunks=True)
        assert all(h["encoder"] == "bm25" for h in hits) and not service.index._embedders   # nothing loaded
    finally:
        httpd.shutdown()
        httpd.server_close()
        service.close()
