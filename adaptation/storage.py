"""Writing files and encoder directories atomically, and fingerprinting an encoder's identity.

A directory either holds a complete encoder or does not exist: everything is
written into a sibling temp dir and renamed into place, ``encoder_config.json``
last, so a crash never leaves something that looks complete.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

WEIGHT_SUFFIXES = (".safetensors", ".bin")
BASE_FILES = ("config.json", "generation_config.json", "model.safetensors.index.json", "pytorch_model.bin.index.json",
              "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model")
FULL_HASH_LIMIT = 64 << 20   # files up to 64 MB are hashed whole
SAMPLE_BLOCKS = 16           # larger ones: header + 16 strided 1 MB blocks


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temp dir next to ``target``; on success it replaces ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_json_or_empty(path: Path) -> dict:
    """A JSON object from ``path``, or {} when it is missing or unreadable (state that may not exist yet)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; once the caller has written it, it is fsynced and renamed over
    ``path`` (and the folder fsynced). On any error the temp file is removed and ``path`` is untouched.

    The one way this project replaces a file: readers never see half a file, a crash or a full disk
    never leaves a truncated one, and no ``*.tmp`` litter stays behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: dict, default=None) -> None:
    """Write ``data`` as JSON to ``path`` through :func:`atomic_file`."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=default) + "\n", encoding="utf-8")


def copy_base_model(source: Path, target: Path) -> None:
    """Copy a local base model (config, weights, tokenizer) into ``target``: it loads on its own too."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.is_file() and (path.name in BASE_FILES or path.suffix in WEIGHT_SUFFIXES):
            shutil.copy2(path, target / path.name)


def content_hash(path: Path) -> str:
    """sha256 of a file; large files are sampled so a 14 GB base stays cheap to identify."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with open(path, "rb") as handle:
        if size <= FULL_HASH_LIMIT:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        else:
            digest.update(handle.read(1 << 20))
            for i in range(SAMPLE_BLOCKS):
                handle.seek(size * i // SAMPLE_BLOCKS)
                digest.update(handle.read(1 << 20))
    return digest.hexdigest()


def directory_identity(directory: Path) -> str:
    """Content identity of a local model/adapter dir: its config and weight files."""
    parts = []
    for path in sorted(Path(directory).iterdir()):
        if path.is_file() and (path.suffix in WEIGHT_SUFFIXES or path.name == "config.json"):
            parts.append(f"{path.name}:{content_hash(path)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def fingerprint(semantic: dict, base_identity: str, adapter_identities: list[str]) -> str:
    payload = json.dumps({"config": semantic, "base": base_identity, "adapters": adapter_identities}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
