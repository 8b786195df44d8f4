"""``DB/serve.json``: how `l2v search DB` finds a running `l2v serve DB` and skips loading the model.

A search in a fresh process loads the encoder (12-48 s); a running server has it loaded (~0.1-1 s). The
server writes ``{"url", "pid", "db"}`` into the database folder when it starts listening (atomically:
a reader sees the old record or the new one) and removes it when it stops. The reader trusts the record
only when every check passes -- the file is the user's own, its process is alive, its URL is a loopback
address (a copied database must not send queries elsewhere), and ``/health`` there answers within a
second naming this same database -- and otherwise searches in-process as before: a stale record (killed
server, reused pid) costs at most one refused connection.
"""
from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from urllib.parse import urlsplit
from .store.database import pid_alive

RECORD = "serve.json"
PROBE_TIMEOUT = 1.0   # seconds /health may take before the search goes ahead in-process


def record_path(db: str | Path) -> Path:
    return Path(db) / RECORD


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine uses: a wildcard bind (0.0.0.0, ::) answers on loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def write_record(db: str | Path, url: str, pid: int | None = None) -> Path:
    """Write the record (atomically: temp file + rename); OSError when the folder is not writable."""
    path = record_path(db)
    payload = {"url": url, "pid": os.getpid() if pid is None else pid, "db": str(Path(db).resolve())}
    tmp = path.with_name(f".{RECORD}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def remove_record(db: str | Path, pid: int | None = None) -> None:
    """Remove the record if it is still this process's (a second server may have written its own since)."""
    record = read_record(db)
    if record is not None and record.get("pid") == (os.getpid() if pid is None else pid):
        try:
            record_path(db).unlink()
        except OSError:
            pass


def read_record(db: str | Path) -> dict | None:
    """The record as a dict, or None when absent, unreadable, not the user's own, or not a record at all."""
    path = record_path(db)
    try:
        if hasattr(os, "getuid") and path.stat().st_uid != os.getuid():
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(record, dict) and isinstance(record.get("url"), str) and isinstance(record.get("pid"), int)
            and not isinstance(record.get("pid"), bool)):
        return None
    return record


def is_loopback_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port   # .port raises on a malformed port
    except ValueError:
        return False
    if parts.scheme != "http" or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def live_server(db: str | Path, timeout: float = PROBE_TIMEOUT) -> str | None:
    """The URL of a running `l2v serve` of ``db`` that answered just now, else None (search in-process)."""
    from .remote import get_json
    from .errors import UsageError

    db = Path(db).expanduser().resolve()
    record = read_record(db)
    if record is None or not pid_alive(record["pid"]) or not is_loopback_url(record["url"]):
        return None
    try:
        health = get_json(record["url"], "/health", timeout=timeout)
    except UsageError:
        return None
    return record["url"] if health.get("ok") is True and health.get("db") == str(db) else None
