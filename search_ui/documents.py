"""Read a hit's document for the "surrounding text" view, never outside a root the user gave.

Files are read only when the user allowed a folder (``l2v ui --root``, see ``settings``) and the
database's recorded root lies inside it; otherwise the stored chunks are shown. The path stored in
the database is relative to ``Index.root``; it is resolved (symlinks followed) and refused unless
the result stays under both roots. Only a regular file whose size matches the database is read and
hashed; a file that is missing, unreadable or changed gets one and the same note (telling them apart
would tell a crafted database which files exist). A matching file is re-extracted with the
indexer's own extractor so chunk offsets line up.
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


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
    """The document's ``DocumentInfo``, or a UIError when a writer removed it since it was shown."""
    row = index.document(int(document_id))
    if row is None:
        raise UIError(f"document {document_id} is no longer in the index; search again")
    return row


NO_ROOT_NOTE = "showing stored chunks (start `l2v ui` with --root FOLDER to show documents from their files)"
MISSING_OR_CHANGED_NOTE = "file missing or changed since indexing; showing stored chunks"


def allowed_root(recorded: str, given: str | Path | None) -> Path | None:
    """The folder files may be read from: the database's root if it lies inside the user's ``given`` one."""
    if given is None or not str(recorded):
        return None
    base, allowed = Path(recorded).resolve(), Path(given).expanduser().resolve()
    return base if base == allowed or allowed in base.parents else None


def document_text(index, document_id: int, root: str | Path | None = None) -> tuple[str, str, str]:
    """(text, source, note): the extracted file text when it still matches the index, else the stored chunks.

    ``root`` is the folder the user allowed (None: no file is read at all).
    """
    row = document_row(index, document_id)
    base = allowed_root(index.root, root)
    if base is None:
        note = NO_ROOT_NOTE if root is None else (
            f"this database's folder is not inside --root {root}; showing stored chunks")
        return chunks_text(index, document_id), "chunks", note
    path = safe_path(base, row.path)   # raises before anything is read
    data = _read_if_unchanged(base, path, row.size)
    if data is None or hashlib.sha256(data).hexdigest() != row.sha256:
        return chunks_text(index, document_id), "chunks", MISSING_OR_CHANGED_NOTE
    from indexer import Skip, extract

    try:
        return extract(row.path, data).text, "file", ""
    except Skip:
        return chunks_text(index, document_id), "chunks", MISSING_OR_CHANGED_NOTE


def _read_if_unchanged(base: Path, path: Path, size: int) -> bytes | None:
    """The bytes of a regular file of exactly ``size`` bytes (checked on the open handle), else None.

    Opened as the indexer opens it (``open_inside``: component by component from the root, no link
    followed): a link swapped into any folder on the path after ``safe_path``'s check is refused too.
    """
    from indexer import Skip, open_inside

    try:
        fd = open_inside(base, path)
    except (OSError, Skip):
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:  # a FIFO/device is never read
            return None
        try:
            return handle.read(size + 1)
        except OSError:
            return None


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


def hit_context(index, document_id: int, start: int, end: int, chars: int = 1200,
                root: str | Path | None = None) -> Context:
    text, source, note = document_text(index, document_id, root)
    before, hit, after = context(text, start, end, chars)
    return Context(before, hit, after, source, note)
