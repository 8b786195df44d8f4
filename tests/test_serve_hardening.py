"""`l2v serve` under hostile or malformed requests (issue 21, items 5, 6 and 9): a real server on a free port
over a real HNSW database, raw sockets where a client library would refuse to send the request.

Every bound answers a 400 that names it; foreign Host headers get 403 (DNS rebinding); POST bodies must be
``application/json`` (415); idle connections are let go and concurrent ones capped; `l2v search --server`
on a 200 that is not a search result prints one line.
"""
from __future__ import annotations

import http.client
import http.server
import json
import socket
import threading
import time
from contextlib import contextmanager

import pytest
import typer
from typer.testing import CliRunner

from indexer import build_index
from indexer.errors import UsageError
from search_ui.api_requests import MAX_INPUT_CHARS, MAX_INPUTS, MAX_PAGE, MAX_TOTAL_INPUT_CHARS
from search_ui.http_guard import HostCheck
from search_ui.server import SearchService, make_server

from indexer_helpers import QUERIES, hash_options, make_corpus


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("hardening")
    make_corpus(root / "docs", 8, paragraphs=3)
    build_index(root / "docs", root / "db", {"hash-32": "hash:32"}, hash_options(factory="HNSW16"))
    svc = SearchService(root / "db")
    yield svc
    svc.close()


@contextmanager
def serving(service, **options):
    httpd = make_server(service, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def port(service):
    with serving(service) as p:
        yield p


def request(port: int, method: str, path: str, body: dict | bytes | None = None,
            headers: dict | None = None) -> tuple[int, dict]:
    """One request with exactly these headers (Content-Type JSON on POST unless given); (status, JSON answer)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"} if method == "POST" else {}
    sent.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def raw(port: int, payload: bytes, wait: float = 30.0) -> tuple[int, dict]:
    """Send bytes as they are (malformed framing); the status and JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(payload)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def error(answer: dict) -> str:
    return answer["error"]["message"]


# ------------------------------------------------------------------ item 5: bounds on what one request costs
@pytest.mark.parametrize("field, value, limit", [
    ("ef_search", 300_000_000, "at most 4096"), ("ef_search", 2**31 - 1, "at most 4096"),
    ("ef_search", 2**31, "at most 4096"), ("nprobe", 10**7, "at most 65536"), ("k", 1001, "at most 1000"),
    ("passages", 10**6, "at most 100"),
])
def test_search_parameters_are_bounded_and_the_limit_is_named(port, field, value, limit):
    status, answer = request(port, "POST", "/search", {"query": QUERIES[0], field: value})
    assert status == 400 and f"'{field}' must be {limit}" in error(answer)


def test_the_largest_accepted_values_still_search(port):
    status, answer = request(port, "POST", "/search", {"query": QUERIES[0], "ef_search": 4096, "nprobe": 65536,
                                                       "k": 1000, "passages": 100})
    assert status == 200 and len(answer["documents"]) == 8


@pytest.mark.parametrize("body, message", [
    ({"input": ["a river"] * (MAX_INPUTS + 1)}, f"at most {MAX_INPUTS} per request"),
    ({"input": "x" * (MAX_INPUT_CHARS + 1)}, f"input 0 is {MAX_INPUT_CHARS + 1:,} characters; at most "
                                             f"{MAX_INPUT_CHARS:,}"),
    ({"input": ["y" * MAX_INPUT_CHARS] * (MAX_TOTAL_INPUT_CHARS // MAX_INPUT_CHARS + 1)},
     f"at most {MAX_TOTAL_INPUT_CHARS:,} per request"),
])
def test_embedding_inputs_are_bounded_in_count_and_size(port, body, message):
    status, answer = request(port, "POST", "/v1/embeddings", body)
    assert status == 400 and message in error(answer)
    status, fine = request(port, "POST", "/v1/embeddings", {"input": ["a river"] * MAX_INPUTS})
    assert status == 200 and len(fine["data"]) == MAX_INPUTS


@pytest.mark.parametrize("query, message", [
    ("limit=-1", "'limit' must be between 0 and 1000, got -1"), (f"limit={MAX_PAGE + 1}", "between 0 and 1000"),
    ("offset=-5", "'offset' must be between 0"), ("limit=ten", "'limit' must be an integer"),
])
def test_document_pages_are_validated(port, query, message):
    status, answer = request(port, "GET", f"/documents?{query}")
    assert status == 400 and message in error(answer)
    assert request(port, "GET", "/documents?limit=0")[1]["documents"] == []
    assert len(request(port, "GET", "/documents?limit=3&offset=6")[1]["documents"]) == 2


def test_an_idle_connection_is_closed_after_the_timeout(service):
    with serving(service, timeout=1.0) as p, socket.create_connection(("127.0.0.1", p), timeout=10) as idle:
        started = time.monotonic()
        assert idle.recv(1) == b""            # the server hung up on a client that never sent a request
        assert time.monotonic() - started < 5
        assert request(p, "GET", "/health")[0] == 200


def test_concurrent_connections_are_capped_and_the_next_one_gets_503(service):
    with serving(service, timeout=30.0, max_connections=3) as p:
        idle = [socket.create_connection(("127.0.0.1", p), timeout=10) for _ in range(3)]
        time.sleep(0.3)                       # the server has accepted them (each holds a thread)
        started = time.monotonic()
        status, answer = raw(p, b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", wait=10)
        assert status == 503 and "busy" in error(answer) and time.monotonic() - started < 5
        for s in idle:
            s.close()
        deadline = time.monotonic() + 10      # their threads see the close and give their slots back
        while request(p, "GET", "/health")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert request(p, "GET", "/health")[0] == 200


# ------------------------------------------------------------------ item 6: Host check and JSON-only POST
@pytest.mark.parametrize("method, path, body", [
    ("GET", "/status", None), ("GET", "/documents", None), ("GET", "/search?q=rivers", None),
    ("POST", "/search", {"query": "rivers"}), ("GET", "/health", None), ("GET", "/nowhere", None),
])
def test_a_foreign_host_header_is_refused(port, method, path, body):
    status, answer = request(port, method, path, body, {"Host": f"attacker.example:{port}"})
    assert status == 403 and "Host 'attacker.example" in error(answer) and "documents" not in answer


def test_the_servers_own_addresses_are_accepted(port):
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert request(port, "GET", "/health", headers={"Host": host})[0] == 200, host
    for host in ("127.0.0.1", f"localhost:{port + 1}", f"127.0.0.1.attacker.example:{port}", f"user@127.0.0.1:{port}"):
        assert request(port, "GET", "/health", headers={"Host": host})[0] == 403, host


def test_host_rules_for_other_bindings():
    lan = HostCheck("192.168.1.7", 8765)
    assert lan.refusal("192.168.1.7:8765") is None and lan.refusal("localhost:8765") is None
    assert lan.refusal("10.0.0.1:8765") and lan.refusal("evil.example:8765")
    every = HostCheck("0.0.0.0", 8765)        # every interface: any IP literal or this machine's name
    assert every.refusal("10.0.0.1:8765") is None and every.refusal(f"{socket.gethostname()}:8765") is None
    assert every.refusal("evil.example:8765") and every.refusal("10.0.0.1:9999")
    assert HostCheck("127.0.0.1", 80).refusal("localhost") is None
    assert HostCheck("::1", 8765).refusal("[::1]:8765") is None


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None])
def test_post_bodies_must_be_declared_json(port, content_type):
    data = json.dumps({"query": "rivers"}).encode()
    head = f"POST /search HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(data)}\r\n"
    head += f"Content-Type: {content_type}\r\n" if content_type else ""
    status, answer = raw(port, head.encode() + b"\r\n" + data)
    assert status == 415 and "application/json" in error(answer)
    status, _ = request(port, "POST", "/search", {"query": "rivers"},
                        {"Content-Type": "application/json; charset=utf-8"})
    assert status == 200


# ------------------------------------------------------------------ item 9: malformed values are 400s
@pytest.mark.parametrize("body, message", [
    (b'{"query": "rivers", "k": Infinity}', "'k' must be a finite number"),
    (b'{"query": "rivers", "k": NaN}', "'k' must be a finite number"),
    (b'{"query": "rivers", "k": 1e400}', "'k' must be a finite number"),
    (b'{"query": "rivers", "k": -Infinity}', "'k' must be a finite number"),
    (b'{"query": "rivers", "dense_weight": NaN, "hybrid": true}', "'dense_weight' must be a finite number"),
    (b'{"query": "rivers", "db": 5}', "'db' must be a string"),
    (b'{"query": "rivers", "db": ["/tmp"]}', "'db' must be a string"),
    (b'{"query": "rivers", "db": "/tmp/a\\u0000b"}', "'db' must be a folder path; it contains a NUL byte"),
    (b'{"query": "rivers \\ud800"}', "'query' is not valid Unicode (a lone surrogate"),
    (b'{"query": "rivers \\udfff", "hybrid": true}', "'query' is not valid Unicode"),
    (b'{"query": "rivers", "path": "\\ud800/**"}', "'path' is not valid Unicode"),
    (b'{"query": "rivers", "instruction": 5}', "'instruction' must be a string"),
    (b'{"query": "rivers", "instruction": {"a": 1}}', "'instruction' must be a string"),
    (b'{"query": "rivers", "ef_search": 2147483648}', "'ef_search' must be at most 4096"),
    (b'{"query": "rivers", "ef_search": 1e300}', "'ef_search' must be at most 4096"),
    (b'{"query": "' + b"w " * 6000 + b'"}', "'query' is 12,000 characters; at most 10,000"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
])
def test_malformed_search_values_are_one_line_400s(port, body, message):
    status, answer = request(port, "POST", "/search", body)
    assert status == 400 and message in error(answer), answer
    assert "Traceback" not in error(answer) and "\n" not in error(answer)


@pytest.mark.parametrize("body, message", [
    (b'{"input": "a river", "input_type": "query", "instruction": 5}', "'instruction' must be a string"),
    (b'{"input": "a river \\ud800"}', "input 0 is not valid Unicode"),
    (b'{"input": "a river", "model": 7}', "'model' must be a string"),
])
def test_malformed_embedding_values_are_400s(port, body, message):
    status, answer = request(port, "POST", "/v1/embeddings", body)
    assert status == 400 and message in error(answer)


@pytest.mark.parametrize("length, message", [
    ("abc", "Content-Length must be a non-negative integer, got 'abc'"), ("-1", "got '-1'"),
    ("1e3", "got '1e3'"), ("99999999999999999999", "non-negative integer"),
])
def test_a_content_length_that_is_not_a_count_is_a_400(port, length, message):
    payload = (f"POST /search HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {length}\r\n\r\n{{}}").encode()
    status, answer = raw(port, payload)
    assert status == 400 and message in error(answer)


def test_a_body_shorter_than_its_content_length_is_answered_not_waited_for(service):
    with serving(service, timeout=1.0) as p:
        payload = (f"POST /search HTTP/1.0\r\nHost: 127.0.0.1:{p}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: 100\r\n\r\n{{\"query\"").encode()
        started = time.monotonic()
        status, answer = raw(p, payload, wait=10)
        assert status == 408 and "did not arrive" in error(answer) and time.monotonic() - started < 5


# ------------------------------------------------------------------ item 9: `l2v search --server` on a 200 that is no result
@pytest.fixture()
def impostor():
    """A real HTTP server answering every POST with 200 and the body the test sets."""
    answers: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answers["body"])

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", answers
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("body, chunks", [
    (b"<html>hello</html>", False), (b"[1, 2]", False), (b"null", False), (b'{"documents": "none"}', False),
    (b'{"documents": [{"rank": 1}]}', False), (b'{"documents": [5]}', False), (b'{"hits": []}', False),
    (b'{"documents": [{"rank": 1, "score": 0.5, "path": "a", "title": "t", "best": {"rank": 1}}]}', False),
    (b'{"documents": [{"rank": 1, "score": 0.5, "path": "a", "title": "t", "best": null, "passages": 3}]}', False),
    (b'{"hits": [{"rank": "1", "score": 0.5, "path": "a", "title": "t", "text": "", "start": 0, "end": 1}]}', True),
    (b"\xff\xfe", True),
])
def test_cli_search_on_an_unexpected_200_is_one_line(impostor, tmp_path, body, chunks):
    from indexer.cli import register

    url, answers = impostor
    answers["body"] = body
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["search", str(tmp_path), "rivers", "--server", url]
                                + (["--chunks"] if chunks else []))
    assert isinstance(result.exception, UsageError), result.exception
    message = str(result.exception)
    assert url in message and "\n" not in message and result.exception.exit_code == 2
