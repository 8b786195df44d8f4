"""The search request `l2v search` and `l2v serve` share: run it on an ``Index`` here, or send it to a server.

Both sides produce the same JSON-ready results, so `l2v search --server URL` prints what the local search would.
The bounds of the search parameters live here too, so the command line and the server refuse the same values
(an ``ef_search`` of 2^31 - 1 made FAISS throw ``std::bad_alloc``; 3e8 took 2 GB).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Sequence

from .errors import UsageError


@dataclass(frozen=True)
class SearchLimits:
    """Largest values a search accepts; each far above what recall needs, each far below what hurts."""

    k: int = 1000                 # results per search
    passages: int = 100           # passages shown per document
    nprobe: int = 65536           # IVF lists visited (an IVF65536 index is already very large)
    ef_search: int = 4096         # HNSW candidate list (64 is the default; 4096 reaches near-exact recall)
    query_chars: int = 10_000     # characters of a query (a query is words, not a document)


SEARCH_LIMITS = SearchLimits()
DENSE_ONLY = ("instruction", "task", "nprobe", "ef_search", "dense_weight")   # meaningless in keyword mode


class ServerUnreachable(UsageError):
    """No answer from the server at all (not running, wrong port): a caller may search in-process instead."""


def run_search(idx, query: str, *, chunks: bool = False, passages: int = 3, path: str | None = None,
               types: Sequence[str] = (), keyword: bool = False, **options: Any) -> list[dict]:
    """Documents (or chunks with ``chunks``) for ``query`` as dicts; ``options`` are ``Index.search``'s.

    ``keyword`` ranks by BM25 alone and loads no model; so does a hybrid search with dense weight 0.
    """
    where = {"path": path, "type": list(types)} if (path or types) else None
    if keyword:
        given = [name for name in DENSE_ONLY if options.get(name) is not None]   # hybrid or not: no matter
        if given:
            raise UsageError(f"keyword search ranks by words alone; {', '.join(given)} do(es) not apply to it")
    if keyword or (options.get("hybrid") and options.get("dense_weight") == 0):
        from .keyword import keyword_documents, keyword_search

        k = options.get("k", 10)
        if chunks:
            return [h.to_dict() for h in keyword_search(idx, query, k, where)]
        return [d.to_dict() for d in keyword_documents(idx, query, k, where, passages)]
    if chunks:
        return [h.to_dict() for h in idx.search(query, where=where, **options)]
    return [d.to_dict() for d in idx.search_documents(query, where=where, passages=passages, **options)]


def post_json(server: str, path: str, body: dict, timeout: float = 300.0) -> dict:
    """POST ``body`` to ``server + path``; the server's own error message becomes a UsageError."""
    return _call(server, path, json.dumps(body).encode(), timeout)


def get_json(server: str, path: str, timeout: float = 1.0) -> dict:
    """GET ``server + path`` as JSON (a short timeout: used to ask whether a server is there)."""
    return _call(server, path, None, timeout)


def _call(server: str, path: str, data: bytes | None, timeout: float) -> dict:
    url = server.rstrip("/") + path
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--server {server}: give a URL like http://127.0.0.1:8765")
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:
        try:
            message = json.loads(err.read())["error"]["message"]
        except (ValueError, KeyError, TypeError, OSError):
            message = f"HTTP {err.code}"
        raise UsageError(f"{server}: {message}") from None
    except (urllib.error.URLError, OSError, ValueError) as err:   # ValueError: a URL urllib cannot parse
        reason = getattr(err, "reason", err)
        raise ServerUnreachable(f"cannot reach l2v serve at {server} ({reason}); start it with `l2v serve DB`") from None
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        answer = None
    if not isinstance(answer, dict):
        raise UsageError(f"{server}{path}: the answer is not a JSON object; is this an l2v serve?")
    return answer


_DOCUMENT_KEYS = {"rank": (int,), "score": (int, float), "path": (str,), "title": (str,)}
_HIT_KEYS = {**_DOCUMENT_KEYS, "text": (str,), "start": (int,), "end": (int,)}


def search_results(answer: dict, chunks: bool, server: str) -> list[dict]:
    """The results list of a /search answer, checked to have the shape `l2v search` prints (else one line)."""
    key = "hits" if chunks else "documents"
    results = answer.get(key)
    problem = None if isinstance(results, list) else f"no '{key}' list"
    for result in results if problem is None else ():
        problem = _shape_problem(result, _HIT_KEYS if chunks else _DOCUMENT_KEYS)
        if not problem and not chunks:
            passages = result.get("passages", [])
            problem = "a document's 'passages' is not a list" if not isinstance(passages, list) else next(
                filter(None, (_shape_problem(h, _HIT_KEYS) for h in [result.get("best"), *passages])), None)
        if problem:
            break
    if problem:
        raise UsageError(f"{server}: unexpected answer to /search ({problem}); is this an l2v serve of this version?")
    return results


def _shape_problem(item: Any, keys: dict[str, tuple[type, ...]]) -> str | None:
    """What is wrong with one result (None: it has every field `l2v search` prints, of the right type)."""
    if not isinstance(item, dict):
        return "a result is not an object"
    for name, kinds in keys.items():
        value = item.get(name)
        if not isinstance(value, kinds) or isinstance(value, bool):
            return f"a result's '{name}' is missing or not a {kinds[-1].__name__}"
    return None
