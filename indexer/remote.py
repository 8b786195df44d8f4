"""The search request `l2v search` and `l2v serve` share: run it on an ``Index`` here, or send it to a server.

Both sides produce the same JSON-ready results, so `l2v search --server URL` prints what the local search would.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Sequence

from .errors import UsageError


def run_search(idx, query: str, *, chunks: bool = False, passages: int = 3, path: str | None = None,
               types: Sequence[str] = (), **options: Any) -> list[dict]:
    """Documents (or chunks with ``chunks``) for ``query`` as dicts; ``options`` are ``Index.search``'s."""
    where = {"path": path, "type": list(types)} if (path or types) else None
    if chunks:
        return [h.to_dict() for h in idx.search(query, where=where, **options)]
    return [d.to_dict() for d in idx.search_documents(query, where=where, passages=passages, **options)]


def post_json(server: str, path: str, body: dict, timeout: float = 300.0) -> dict:
    """POST ``body`` to ``server + path``; the server's own error message becomes a UsageError."""
    url = server.rstrip("/") + path
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--server {server}: give a URL like http://127.0.0.1:8765")
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        try:
            message = json.loads(err.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {err.code}"
        raise UsageError(f"{server}: {message}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise UsageError(f"cannot reach l2v serve at {server} ({reason}); start it with `l2v serve DB`") from None
