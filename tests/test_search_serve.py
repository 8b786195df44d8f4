"""Results by document (against brute force) and `l2v serve` with `l2v search --server`, on real databases."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from indexer import DEFAULT_HYBRID, Index, build_index
from indexer.errors import UsageError

from indexer_helpers import QUERIES, hash_options, make_corpus


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    make_corpus(root / "docs", 12, paragraphs=4)
    build_index(root / "docs", root / "db", {"hash-32": "hash:32"}, hash_options())
    return root / "db"


def brute_force_documents(idx: Index, query: str, k: int, allowed_prefix: str = "") -> list[tuple[str, float]]:
    """Every chunk scored exactly; a document's score is its best chunk's; the top k documents."""
    store = idx.vectors("hash-32")
    ids = store.ids()
    vectors = store.reconstruct(ids)
    q = np.asarray(idx.embedder("hash-32").encode_queries([query]))[0]
    scores = vectors @ (q / np.linalg.norm(q))
    paths = {c.id: c.path for c in idx.chunks(ids=ids.tolist())}
    best: dict[str, float] = {}
    for chunk_id, score in zip(ids.tolist(), scores.tolist()):
        path = paths[chunk_id]
        if path.startswith(allowed_prefix):
            best[path] = max(best.get(path, -2.0), score)
    return sorted(best.items(), key=lambda item: -item[1])[:k]


def assert_same_up_to_ties(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    """Same documents; documents with equal scores (identical chunks exist in this corpus) may swap."""
    assert len(got) == len(want)
    for (path, score), (want_path, want_score) in zip(got, want):
        if path != want_path:
            assert abs(score - want_score) < 1e-5
            assert path in {p for p, s in want if abs(s - score) < 1e-5} or abs(score - want[-1][1]) < 1e-5


@pytest.mark.parametrize("k", [1, 5, 12, 30])
def test_results_by_document_equal_brute_force(db, k):
    with Index.open(db) as idx:
        n_chunks = idx.status(check=False).n_chunks
        assert n_chunks > 3 * 12   # several chunks per document, or grouping would be trivial
        for query in QUERIES:
            found = idx.search_documents(query, k=k)
            want = brute_force_documents(idx, query, k)
            assert [d.score for d in found] == pytest.approx([s for _, s in want], abs=1e-5)
            assert_same_up_to_ties([(d.path, d.score) for d in found], want)
            for rank, d in enumerate(found, start=1):
                assert d.rank == rank and d.best.path == d.path
                assert all(p.document_id == d.document_id and p.score <= d.score + 1e-6 for p in d.passages)
                assert [p.score for p in d.passages] == sorted((p.score for p in d.passages), reverse=True)


def test_results_by_document_with_a_filter(db):
    with Index.open(db) as idx:
        found = idx.search_documents(QUERIES[0], k=4, where={"path": "a/**"})
        assert_same_up_to_ties([(d.path, d.score) for d in found], brute_force_documents(idx, QUERIES[0], 4, "a/"))


@pytest.fixture(scope="module")
def server(db):
    from search_ui.server import SearchService, make_server

    service = SearchService(db)
    httpd = make_server(service, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        service.close()


def call(url: str, body: dict | bytes | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_server_search_matches_the_library(server, db):
    status, answer = call(server + "/search", {"query": QUERIES[1], "k": 4})
    assert status == 200 and answer["ms"] >= 0
    with Index.open(db) as idx:
        want = [d.to_dict() for d in idx.search_documents(QUERIES[1], k=4, hybrid=DEFAULT_HYBRID)]
        chunks = [h.to_dict() for h in idx.search(QUERIES[1], k=3, hybrid=True)]
    assert answer["documents"] == want
    status, hybrid = call(server + "/search", {"query": QUERIES[1], "k": 3, "hybrid": True, "chunks": True})
    assert status == 200 and hybrid["hits"] == chunks
    status, quick = call(server + "/search?q=" + "capital%20of%20France&k=2")
    assert status == 200 and len(quick["documents"]) == 2


def test_server_status_documents_and_models(server):
    assert call(server + "/health")[1]["encoders"] == ["hash-32"]
    assert call(server + "/status")[1]["n_documents"] == 12
    assert len(call(server + "/documents?limit=5")[1]["documents"]) == 5
    models = call(server + "/v1/models")[1]
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["hash-32"]


def test_openai_compatible_embeddings(server):
    from l2v_doubles import HashEmbedder

    reference = HashEmbedder(32)
    status, answer = call(server + "/v1/embeddings", {"model": "hash-32", "input": ["a river", "a mountain"]})
    assert status == 200 and answer["object"] == "list" and answer["model"] == "hash-32"
    assert [d["index"] for d in answer["data"]] == [0, 1] and answer["usage"]["prompt_tokens"] == 4
    got = np.array([d["embedding"] for d in answer["data"]], dtype=np.float32)
    np.testing.assert_allclose(got, reference.encode_documents(["a river", "a mountain"]), atol=1e-6)
    status, query = call(server + "/v1/embeddings", {"input": "a river", "input_type": "query",
                                                     "instruction": "Find"})
    assert status == 200
    np.testing.assert_allclose(query["data"][0]["embedding"], reference.encode_queries(["a river"], "Find")[0],
                               atol=1e-6)


@pytest.mark.parametrize("path, body, code, message", [
    ("/search", {"query": "   "}, 400, "'query' must be a non-empty string"),
    ("/search", {"query": "x", "k": 0}, 400, "'k' must be at least 1"),
    ("/search", {"query": "x", "hybrid": "yes"}, 400, "'hybrid' must be true or false"),
    ("/search", {"query": "x", "color": 1}, 400, "unknown field(s): color"),
    ("/search", {"query": "x", "encoder": "nope"}, 400, "nope"),
    ("/search", b"{not json", 400, "not valid JSON"),
    ("/v1/embeddings", {"model": "gpt-4", "input": "x"}, 404, "unknown model 'gpt-4'"),
    ("/v1/embeddings", {"input": [1, 2]}, 400, "token ids are not supported"),
    ("/nowhere", {}, 404, "no such endpoint"),
])
def test_server_errors_are_json_messages(server, path, body, code, message):
    status, answer = call(server + path, body)
    assert status == code and message in answer["error"]["message"]


def test_cli_search_through_the_server(server, db, tmp_path):
    from indexer.cli import register

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    local = runner.invoke(app, ["search", str(db), QUERIES[2], "-k", "3", "--json"])
    remote = runner.invoke(app, ["search", str(db), QUERIES[2], "-k", "3", "--json", "--server", server])
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    other = runner.invoke(app, ["search", str(tmp_path), "x", "--server", server])
    assert isinstance(other.exception, UsageError) and "this server serves" in str(other.exception)
    down = runner.invoke(app, ["search", str(db), "x", "--server", "http://127.0.0.1:9"])
    assert isinstance(down.exception, UsageError) and "cannot reach l2v serve" in str(down.exception)
    blank = runner.invoke(app, ["search", str(db), "  "])
    assert isinstance(blank.exception, UsageError) and blank.exception.exit_code == 2
