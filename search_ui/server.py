"""``l2v serve DB``: a small HTTP JSON API that keeps the encoders loaded (a warm search in ~0.1-1 s).

Loading a 135M encoder takes seconds; a CLI that reloads it for every query spends most of its time
there. The server loads every encoder of the database once, then answers:

    GET  /health                        {"ok": true, "db": ...}
    GET  /status                        what `l2v status --json` prints
    GET  /documents?limit=50&offset=0   indexed documents
    POST /search                        {"query", "k", "encoder", "instruction", "hybrid", "dense_weight",
                                         "nprobe", "ef_search", "path", "types", "chunks", "passages"}
                                        -> {"documents": [...]} (default) or {"hits": [...]} with "chunks": true
    GET  /v1/models                     the loaded encoders (OpenAI-compatible)
    POST /v1/embeddings                 {"model", "input": str | [str], "input_type": "document" | "query",
                                         "instruction"} -> OpenAI-compatible embeddings

Bound to 127.0.0.1 unless ``--host`` says otherwise: a database is private data. Requests are
served one at a time per process (the model is the bottleneck, and torch already uses every core).
Errors are JSON ``{"error": {"message", "type"}}`` with status 400/404/413, never a traceback.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

from indexer import L2VError
from indexer import run_search

MAX_BODY = 4 << 20          # 4 MiB of JSON per request
MAX_INPUTS = 2048           # texts per /v1/embeddings call


class RequestError(Exception):
    """A client mistake: becomes a JSON error with this HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class SearchRequest:
    query: str
    k: int = 10
    encoder: str | None = None
    instruction: str | None = None
    task: str | None = None
    hybrid: bool = False
    dense_weight: float | None = None
    nprobe: int | None = None
    ef_search: int | None = None
    path: str | None = None
    types: tuple[str, ...] = ()
    chunks: bool = False
    passages: int = 3

    @classmethod
    def parse(cls, body: dict) -> "SearchRequest":
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise RequestError("'query' must be a non-empty string")
        unknown = set(body) - set(cls.__dataclass_fields__) - {"db"}
        if unknown:
            raise RequestError(f"unknown field(s): {', '.join(sorted(unknown))}")
        request = cls(query=query)
        for name, kind in (("k", int), ("nprobe", int), ("ef_search", int), ("passages", int)):
            if body.get(name) is not None:
                setattr(request, name, _number(body, name, kind, minimum=1))
        if body.get("dense_weight") is not None:
            request.dense_weight = _number(body, "dense_weight", float, minimum=0.0, maximum=1.0)
        for name in ("encoder", "instruction", "task", "path"):
            if body.get(name) is not None:
                if not isinstance(body[name], str):
                    raise RequestError(f"'{name}' must be a string")
                setattr(request, name, body[name])
        for name in ("hybrid", "chunks"):
            if body.get(name) is not None:
                if not isinstance(body[name], bool):
                    raise RequestError(f"'{name}' must be true or false")
                setattr(request, name, body[name])
        types = body.get("types") or []
        if isinstance(types, str):
            types = [types]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise RequestError("'types' must be a list of file types, e.g. [\"md\", \"pdf\"]")
        request.types = tuple(types)
        if request.k > 1000:
            raise RequestError("'k' must be at most 1000")
        return request


def _number(body: dict, name: str, kind: type, minimum: float, maximum: float | None = None):
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise RequestError(f"'{name}' must be {'an integer' if kind is int else 'a number'}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        raise RequestError(f"'{name}' must be {bound}, got {value}")
    return kind(value)


class SearchService:
    """The database and its encoders, loaded once; every method returns a JSON-ready dict."""

    def __init__(self, db: str | Path, warm: bool = True):
        from indexer import Index

        self.db = Path(db).expanduser().resolve()
        self.index = Index.open(self.db)
        self.lock = threading.Lock()
        self.names = [e.name for e in self.index.encoders()]
        if warm:   # load every encoder now, so the first request is as fast as the next
            for name in self.names:
                self.index.embedder(name).encode_queries(["warm up"])

    def close(self) -> None:
        self.index.close()

    def health(self) -> dict:
        return {"ok": True, "db": str(self.db), "encoders": self.names}

    def status(self) -> dict:
        with self.lock:
            return self.index.status().to_dict()

    def documents(self, limit: int, offset: int) -> dict:
        with self.lock:
            return {"documents": [vars(d) for d in self.index.documents(limit=limit, offset=offset)]}

    def search(self, body: dict) -> dict:
        request = SearchRequest.parse(body)
        wanted = body.get("db")
        if wanted and Path(wanted).expanduser().resolve() != self.db:
            raise RequestError(f"this server serves '{self.db}', not '{wanted}'")
        started = time.perf_counter()
        with self.lock:
            found = run_search(self.index, **asdict(request))
        return {"hits" if request.chunks else "documents": found, "query": request.query,
                "ms": round((time.perf_counter() - started) * 1000, 1)}

    def models(self) -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "l2v-search"}
                                           for name in self.names]}

    def embeddings(self, body: dict) -> dict:
        """OpenAI's /v1/embeddings; ``input_type`` "query" applies the encoder's query instruction."""
        model = body.get("model") or (self.names[0] if self.names else None)
        if model not in self.names:
            raise RequestError(f"unknown model '{model}'; this server has: {', '.join(self.names)}", 404)
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise RequestError("'input' must be a string or a non-empty list of strings (token ids are not supported)")
        if len(texts) > MAX_INPUTS:
            raise RequestError(f"at most {MAX_INPUTS} inputs per request", 413)
        kind = body.get("input_type", "document")
        if kind not in ("document", "query"):
            raise RequestError("'input_type' must be \"document\" or \"query\"")
        if body.get("encoding_format", "float") != "float":
            raise RequestError("only 'encoding_format': 'float' is supported")
        with self.lock:
            embedder = self.index.embedder(model)
            if kind == "query":
                vectors = embedder.encode_queries(texts, instruction=body.get("instruction"))
            else:
                vectors = embedder.encode_documents(texts)
            tokens = sum(len(embedder.tokenizer.offsets(t)) for t in texts)
        vectors = np.asarray(vectors, dtype=np.float32)
        return {"object": "list", "model": model,
                "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def make_handler(service: SearchService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "l2v-serve"
        quiet = True

        def log_message(self, format: str, *args) -> None:   # noqa: A002 (the stdlib's name)
            if not self.quiet:
                super().log_message(format, *args)

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            url = urlparse(self.path)
            query = parse_qs(url.query)
            routes = {
                "/health": service.health,
                "/status": service.status,
                "/v1/models": service.models,
                "/documents": lambda: service.documents(_int_arg(query, "limit", 50), _int_arg(query, "offset", 0)),
                "/search": lambda: service.search({"query": query.get("q", [""])[0],
                                                   "k": _int_arg(query, "k", 10)}),
            }
            self._answer(routes.get(url.path))

        def do_POST(self) -> None:  # noqa: N802
            routes = {"/search": service.search, "/v1/embeddings": service.embeddings}
            route = routes.get(urlparse(self.path).path)
            self._answer(None if route is None else lambda: route(self._body()))

        def _body(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise RequestError(f"request body over {MAX_BODY >> 20} MiB", 413)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise RequestError(f"the body is not valid JSON ({err.msg if hasattr(err, 'msg') else err})") from None
            if not isinstance(body, dict):
                raise RequestError("the body must be a JSON object")
            return body

        def _answer(self, route) -> None:
            if route is None:
                return self._send(404, {"error": {"message": f"no such endpoint: {self.command} {self.path}",
                                                  "type": "not_found"}})
            try:
                self._send(200, route())
            except RequestError as err:
                self._send(err.status, {"error": {"message": str(err), "type": "invalid_request_error"}})
            except L2VError as err:   # e.g. an unknown encoder name, a dense weight out of range
                self._send(400, {"error": {"message": str(err), "type": "invalid_request_error"}})
            except Exception as err:  # noqa: BLE001 - a bug must answer the client, and keep the server up
                self.log_error("internal error on %s: %r", self.path, err)
                self._send(500, {"error": {"message": f"internal error: {type(err).__name__}: {err}",
                                           "type": "server_error"}})

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _int_arg(query: dict, name: str, default: int) -> int:
    try:
        return int(query.get(name, [default])[0])
    except ValueError:
        raise RequestError(f"'{name}' must be an integer") from None


def make_server(service: SearchService, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """A ready server (``port`` 0 picks a free one: ``server.server_address[1]``); call ``serve_forever``."""
    return ThreadingHTTPServer((host, port), make_handler(service))
