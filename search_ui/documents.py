"""Read a hit's document for the "surrounding text" view, never outside the indexed root.

The path stored in the database is relative to ``Index.root``; it is resolved (symlinks
followed) and refused unless the result stays under the resolved root. The file is
re-extracted with the indexer's own extractor so chunk offsets line up; when the file
changed since indexing (sha256 differs) or vanished, the stored chunks are used instead.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import select

from .errors import PathOutsideRootError, UIError


@dataclass(frozen=True)
class Context:
    before: str
    hit: str
    after: str
    source: str     # "file" | "chunks"
    note: str = ""


def safe_path(root: str | Path, rel: str) -> Path:
    """``root/rel`` resolved; raises PathOutsideRootError when it escapes ``root`` (``..``, absolute, symlink)."""
    if not str(root):
        raise PathOutsideRootError("this database records no indexed root folder; refusing to read files")
    base = Path(root).resolve()
    if not rel or PurePosixPath(rel).is_absolute() or Path(rel).is_absolute() or "\x00" in rel:
        raise PathOutsideRootError(f"'{rel}' is not a path inside the indexed folder; refusing to read it")
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        raise PathOutsideRootError(f"'{rel}' resolves outside the indexed folder {base}; refusing to read it")
    return target


def document_row(index, document_id: int):
    from indexer.schema import Document

    with index.Session() as s:
        row = s.scalar(select(Document).where(Document.id == int(document_id)))
        if row is None:
            raise UIError(f"document {document_id} is no longer in the index; search again")
        s.expunge(row)
        return row


def document_text(index, document_id: int) -> tuple[str, str, str]:
    """(text, source, note): the extracted file text when it still matches the index, else the stored chunks."""
    row = document_row(index, document_id)
    path = safe_path(index.root, row.path)   # raises before anything is read
    try:
        data = path.read_bytes()
    except OSError as err:
        why = f"file unreadable ({err.strerror or err}); showing stored chunks"
        return chunks_text(index, document_id), "chunks", why
    if hashlib.sha256(data).hexdigest() != row.sha256:
        return chunks_text(index, document_id), "chunks", "file changed since indexing; showing stored chunks"
    from indexer.extract import Skip, extract

    try:
        return extract(row.path, data).text, "file", ""
    except Skip as skip:
        return chunks_text(index, document_id), "chunks", f"file no longer extracts ({skip}); showing stored chunks"


def chunks_text(index, document_id: int) -> str:
    """The document rebuilt from its stored chunks at their offsets (gaps become spaces)."""
    chunks = index.chunks(document_id=document_id)
    size = max((c.end for c in chunks), default=0)
    buf = [" "] * size
    for c in chunks:
        buf[c.start:c.start + len(c.text)] = list(c.text)
    return "".join(buf)


def context(text: str, start: int, end: int, chars: int = 1200) -> tuple[str, str, str]:
    """Up to ``chars`` characters before and after [start, end), cut at whitespace."""
    lo, hi = max(0, start - chars), min(len(text), end + chars)
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space >= 0 else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space >= 0 else hi
    return ("…" if lo > 0 else "") + text[lo:start], text[start:end], text[end:hi] + ("…" if hi < len(text) else "")


def hit_context(index, document_id: int, start: int, end: int, chars: int = 1200) -> Context:
    text, source, note = document_text(index, document_id)
    before, hit, after = context(text, start, end, chars)
    return Context(before, hit, after, source, note)
