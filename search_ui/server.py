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
Errors are JSON ``{"error": {"message", "type"}}`` with status 400/403/404/408/411/413/415/503, never
a traceback. What a request may contain is checked in ``api_requests`` (every field bounded); who may
send it and how many connections are served in ``http_guard`` (Host check, JSON-only POST, timeouts).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlparse

import numpy as np

from indexer import SEARCH_LIMITS, L2VError, run_search

from .api_requests import (MAX_BODY, EmbeddingsRequest, RequestError, SearchRequest, database_path, int_arg,
                           page_args)
from .http_guard import CONNECTION_TIMEOUT, MAX_CONNECTIONS, BoundedHTTPServer, HostCheck, read_json, require_json


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
        wanted = database_path(body)
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
        request = EmbeddingsRequest.parse(body)
        model = request.model or (self.names[0] if self.names else None)
        if model not in self.names:
            raise RequestError(f"unknown model '{model}'; this server has: {', '.join(self.names)}", 404)
        texts = request.texts
        with self.lock:
            embedder = self.index.embedder(model)
            if request.kind == "query":
                vectors = embedder.encode_queries(texts, instruction=request.instruction)
            else:
                vectors = embedder.encode_documents(texts)
            tokens = sum(len(embedder.tokenizer.offsets(t)) for t in texts)
        vectors = np.asarray(vectors, dtype=np.float32)
        return {"object": "list", "model": model,
                "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def make_handler(service: SearchService, hosts: HostCheck,
                 timeout: float = CONNECTION_TIMEOUT) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "l2v-serve"
        quiet = True

        def setup(self) -> None:
            self.timeout = timeout   # StreamRequestHandler applies it to the socket: idle clients are let go
            super().setup()

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
                "/documents": lambda: service.documents(*page_args(query)),
                "/search": lambda: service.search({"query": query.get("q", [""])[0],
                                                   "k": int_arg(query, "k", 10, 1, SEARCH_LIMITS.k)}),
            }
            self._answer(routes.get(url.path))

        def do_POST(self) -> None:  # noqa: N802
            routes = {"/search": service.search, "/v1/embeddings": service.embeddings}
            route = routes.get(urlparse(self.path).path)
            self._answer(None if route is None else lambda: route(self._body()))

        def _body(self) -> dict:
            require_json(self.headers.get("Content-Type"))
            return read_json(self.headers, self.rfile, MAX_BODY)

        def _answer(self, route: Callable[[], dict] | None) -> None:
            refusal = hosts.refusal(self._host())
            if refusal:
                return self._send(403, {"error": {"message": refusal, "type": "forbidden_host"}})
            if route is None:
                return self._send(404, {"error": {"message": f"no such endpoint: {self.command} {self.path[:200]}",
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

        def _host(self) -> str | None:
            """The Host header; two different ones count as a foreign host (which one would the client mean?)."""
            values = set(self.headers.get_all("Host") or [])
            return None if not values else values.pop() if len(values) == 1 else " & ".join(sorted(values))

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def make_server(service: SearchService, host: str = "127.0.0.1", port: int = 8765,
                timeout: float = CONNECTION_TIMEOUT, max_connections: int = MAX_CONNECTIONS) -> ThreadingHTTPServer:
    """A ready server (``port`` 0 picks a free one: ``server.server_address[1]``); call ``serve_forever``.

    ``timeout``: seconds a connection may stay silent; ``max_connections``: served at once (more get 503).
    """
    server = BoundedHTTPServer((host, port), None, max_connections)
    server.RequestHandlerClass = make_handler(service, HostCheck(host, server.server_address[1]), timeout)
    return server
