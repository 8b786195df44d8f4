"""The client side of `l2v serve`: one JSON request, every failure one clear line (no retry loop)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from .errors import UsageError


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
