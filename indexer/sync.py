"""Phase 1 of a run: make ``documents``/``chunks``/``skipped`` match the folder, batch by batch.

Folder -> documents -> chunks: ``sources`` walks and extracts, ``chunking`` cuts, and each batch is
written here as named actions (``Upsert``, ``SkipFile``, ``Touch``, ``Delete``, ``Unskip``). Its
collaborators are explicit: a session factory, the run's options, and a ``VectorCommitter`` that takes
removed chunk ids out of every encoder's FAISS index within the batch's transaction.

Only files whose size or mtime changed are read and hashed; a file whose bytes
are unchanged (sha256) only gets its new mtime. A skipped file is read again when
its size or mtime changed or its ``skip_key`` did (permissions, the size limit, the
extractor version). Each batch is one transaction that also writes new FAISS
generations when chunk ids left the index.

One bad file never stops a run: any error while reading, extracting or chunking a
file records it as skipped (reason ``error``) and the run goes on; only a failure
of the run itself (the chunking tokenizer does not load) stops it. Memory is
bounded per file (see ``chunking``: segment-wise tokenization) and per batch (at
most ``IndexOptions.batch_chars`` characters of chunk text are held before a commit):
one file within the default 50 MB limit peaks under 0.8 GB RSS (a 50 MB one-line file
measured 0.57 GB; ``tests/test_index_robustness.py`` holds the bound).
"""
from __future__ import annotations

import hashlib
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Protocol, Union

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from adaptation.progress import ProgressBar

from .chunking import ChunkingConfig, ChunkTokenizer, TextChunk, chunk_text
from .options import IndexOptions
from .results import RunReport
from .sources import EXTRACTOR_VERSION, FileEntry, Problem, Skip, Walker, extract, read_entry
from .store.layout import crash_point
from .store.queries import id_batches
from .store.schema import Chunk, Document, Skipped


class VectorCommitter(Protocol):
    def remove_chunks(self, session: Session, chunk_ids: list[int]) -> list[Path]:
        """Take ``chunk_ids`` out of every encoder's vectors and record the new FAISS generations in
        ``session``'s open transaction; returns the files that become stale once it commits."""

    def retire(self, paths: list[Path]) -> None:
        """``paths`` (from ``remove_chunks``) are stale now that its transaction committed."""


@dataclass(frozen=True)
class KnownDocument:
    """What the database holds of a document: enough to tell an unchanged file without reading it."""

    id: int
    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class RecordedSkip:
    size: int
    mtime_ns: int
    reason: str
    retry_key: str


@dataclass
class Upsert:
    """A new or edited document with its chunks (its text itself is not kept: the chunks hold it)."""

    entry: FileEntry
    sha: str
    title: str
    n_chars: int
    chunks: list[TextChunk]

    @property
    def rel(self) -> str:
        return self.entry.rel


@dataclass
class SkipFile:
    rel: str
    reason: str
    detail: str
    size: int = 0
    mtime_ns: int = 0
    retry_key: str = ""


@dataclass
class Touch:
    """Same bytes, new mtime: only the recorded size/mtime change."""

    entry: FileEntry

    @property
    def rel(self) -> str:
        return self.entry.rel


@dataclass
class Delete:
    rel: str


@dataclass
class Unskip:
    """A file recorded as skipped is gone from the folder."""

    rel: str


Action = Union[Upsert, SkipFile, Touch, Delete, Unskip]


class _RunError(Exception):
    """Wraps a failure that is the run's, not one file's (the chunking tokenizer would not load): it must
    stop the run rather than mark every file as skipped."""


def skip_key(reason: str, entry: FileEntry, max_bytes: int) -> str:
    """What a skip depended on besides size and mtime; when it changes the file is tried again.

    A chmod/chown changes ctime and mode (a file once unreadable may be readable now), a new
    extractor may read what an older one refused, and a size-limit skip depends on the limit.
    """
    key = f"ctime={entry.ctime_ns} mode={entry.mode:o} extractor={EXTRACTOR_VERSION}"
    return key + f" limit={max_bytes}" if reason == "too_large" else key


class DocumentSync:
    def __init__(self, sessions: sessionmaker[Session], folder: Path, skip_paths: list[Path], options: IndexOptions,
                 vectors: VectorCommitter, load_tokenizer: Callable[[], ChunkTokenizer], chunking: ChunkingConfig,
                 report: RunReport):
        self.sessions, self.folder, self.skip_paths, self.options = sessions, folder, skip_paths, options
        self.vectors, self.chunking, self.report = vectors, chunking, report
        self._load_tokenizer, self._tokenizer = load_tokenizer, None
        self.known: dict[str, KnownDocument] = {}
        self.batch: list[Action] = []
        self.batch_removes = False     # does the batch take chunks out of the index?
        self.batch_chars = 0           # characters of chunk text the batch holds

    def run(self) -> None:
        opts = self.options
        with self.sessions() as s:  # metadata only, never document text
            self.known = {p: KnownDocument(i, z, m, h) for i, p, z, m, h in s.execute(
                select(Document.id, Document.path, Document.size, Document.mtime_ns, Document.sha256))}
            skipped = {p: RecordedSkip(z, m, r, k) for p, z, m, r, k in s.execute(
                select(Skipped.path, Skipped.size, Skipped.mtime_ns, Skipped.reason, Skipped.retry_key))}
        walker = Walker(self.folder, opts.include, opts.exclude, hidden=opts.hidden, skip_paths=self.skip_paths)
        seen: set[str] = set()
        # closed on the way out too: a Ctrl-C's one line must come after the bar, not be redrawn over by it
        with ProgressBar(desc="reading", unit="file", disable=not opts.progress) as bar:
            for item in walker:
                bar.update(1)
                seen.add(item.rel)
                self.report.docs_seen += 1
                if isinstance(item, Problem):
                    self._queue(SkipFile(item.rel, item.reason, item.detail))
                    continue
                old = self.known.get(item.rel)
                if old and (old.size, old.mtime_ns) == (item.size, item.mtime_ns):
                    self.report.docs_unchanged += 1
                    continue
                if not old and self._still_skipped(item, skipped.get(item.rel)):
                    self.report.docs_skipped += 1
                    continue
                self._queue(self._read_safely(item, old))
        for path in sorted(set(self.known) - seen):
            self._queue(Delete(path))
        for path in sorted(set(skipped) - seen):
            self._queue(Unskip(path))
        self._flush()

    def _still_skipped(self, entry: FileEntry, recorded: RecordedSkip | None) -> bool:
        if recorded is None:
            return False
        return (recorded.size, recorded.mtime_ns) == (entry.size, entry.mtime_ns) and recorded.retry_key == skip_key(
            recorded.reason, entry, self.options.max_bytes)

    def _skip(self, entry: FileEntry, reason: str, detail: str) -> SkipFile:
        return SkipFile(entry.rel, reason, detail, entry.size, entry.mtime_ns,
                        skip_key(reason, entry, self.options.max_bytes))

    def _read_safely(self, entry: FileEntry, old: KnownDocument | None) -> Action:
        """``_read``, with any unexpected failure of this one file recorded as its skip reason."""
        try:
            return self._read(entry, old)
        except _RunError as err:
            raise err.__cause__ from None
        except Exception as err:  # noqa: BLE001 - a parser/tokenizer bug on one file must not end the run
            return self._skip(entry, "error", f"{type(err).__name__}: {str(err)[:200]}")

    def _read(self, entry: FileEntry, old: KnownDocument | None) -> Action:
        if entry.size > self.options.max_bytes:
            return self._skip(entry, "too_large", f"{entry.size} bytes > limit {self.options.max_bytes}")
        try:
            data = read_entry(entry, self.options.max_bytes)   # opened only if it is inside the folder then
        except Skip as skip:  # a link swapped, or the file grew: no size/mtime recorded, so tried again next run
            return SkipFile(entry.rel, skip.reason, skip.detail)
        except OSError as err:
            return self._skip(entry, "unreadable", err.strerror or str(err))
        sha = hashlib.sha256(data).hexdigest()
        if old and old.sha256 == sha:
            return Touch(entry)
        try:
            extracted = extract(entry.rel, data)
        except Skip as skip:
            return self._skip(entry, skip.reason, skip.detail)
        del data
        if self._tokenizer is None:  # a no-op re-run never imports transformers
            try:
                self._tokenizer = self._load_tokenizer()
            except Exception as err:
                raise _RunError() from err
        chunks = chunk_text(extracted.text, self._tokenizer, self.chunking)
        return Upsert(entry, sha, extracted.title, len(extracted.text), chunks)

    def _queue(self, action: Action) -> None:
        self.batch.append(action)
        self.batch_removes = self.batch_removes or self._removes(action)
        if isinstance(action, Upsert):
            self.batch_chars += sum(len(c.text) for c in action.chunks)
        if len(self.batch) >= self._batch_limit() or self.batch_chars >= self.options.batch_chars:
            self._flush()

    def _removes(self, action: Action) -> bool:
        """Does the action take a document's chunks (some or all) out of the index?"""
        return isinstance(action, Delete) or (isinstance(action, (SkipFile, Upsert)) and action.rel in self.known)

    def _batch_limit(self) -> int:
        """A batch that removes vectors rewrites every encoder's whole FAISS file, so such batches
        grow with the database (like phase 2's commits) and editing many files stays O(n) in writes."""
        opts = self.options
        if not self.batch_removes:
            return opts.batch_docs
        return max(opts.batch_docs, min(opts.max_removal_batch_docs, int(opts.commit_growth * len(self.known))))

    def _flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch, self.batch_removes, self.batch_chars, report = self.batch, [], False, 0, self.report
        with self.sessions() as s, s.begin():
            gone = [a.rel for a in batch if self._removes(a)]
            edited = {a.rel for a in batch if isinstance(a, Upsert) and a.rel in self.known}
            old_docs = [self.known[p].id for p in gone if p not in edited]   # deleted, or now skipped: all goes
            old_chunks = [i for part in id_batches(old_docs)
                          for i in s.scalars(select(Chunk.id).where(Chunk.document_id.in_(part)))]
            _delete_chunks(s, old_chunks)
            for part in id_batches(old_docs):
                s.execute(delete(Document).where(Document.id.in_(part)))
            for action in batch:
                old_chunks += self._apply(s, action)       # an edited document drops only its changed chunks
            report.chunks_removed += len(old_chunks)
            stale = self.vectors.remove_chunks(s, old_chunks) if old_chunks else []
            crash_point("sync_before_commit")
        crash_point("sync_after_commit")
        self.vectors.retire(stale)
        for p in gone:
            self.known.pop(p, None)

    def _apply(self, s: Session, action: Action) -> list[int]:
        """Write one action; returns the ids of chunks it removed (an edited document's changed chunks)."""
        report = self.report
        if isinstance(action, SkipFile):
            s.execute(delete(Skipped).where(Skipped.path == action.rel))
            s.add(Skipped(path=action.rel, reason=action.reason, detail=action.detail, size=action.size,
                          mtime_ns=action.mtime_ns, run_id=report.run_id, retry_key=action.retry_key))
            report.docs_skipped += 1
            report.docs_deleted += action.rel in self.known
        elif isinstance(action, Upsert):
            return self._upsert(s, action)
        elif isinstance(action, Touch):
            doc = s.get(Document, self.known[action.rel].id)
            doc.size, doc.mtime_ns = action.entry.size, action.entry.mtime_ns
            report.docs_unchanged += 1
        elif isinstance(action, Delete):
            report.docs_deleted += 1
        elif isinstance(action, Unskip):
            s.execute(delete(Skipped).where(Skipped.path == action.rel))
        return []

    def _upsert(self, s: Session, action: Upsert) -> list[int]:
        e, report = action.entry, self.report
        changed = e.rel in self.known
        s.execute(delete(Skipped).where(Skipped.path == e.rel))
        fields = dict(sha256=action.sha, size=e.size, mtime_ns=e.mtime_ns, title=action.title,
                      doc_type=PurePosixPath(e.rel).suffix.lower().lstrip("."), n_chars=action.n_chars,
                      indexed_at=time.time())
        if changed:   # same row and id: its unchanged chunks keep their ids, vectors and FTS rows
            doc = s.get(Document, self.known[e.rel].id)
            for key, value in fields.items():
                setattr(doc, key, value)
            fresh, removed = _reuse_chunks(s, doc.id, action.chunks)
            report.chunks_reused += len(action.chunks) - len(fresh)
        else:
            doc = Document(path=e.rel, **fields)
            s.add(doc)
            s.flush()
            fresh, removed = list(enumerate(action.chunks)), []
        rows = [Chunk(document_id=doc.id, ordinal=n, start=c.start, end=c.end, n_tokens=c.n_tokens, text=c.text)
                for n, c in fresh]
        s.add_all(rows)
        s.flush()
        if rows:
            s.execute(text("INSERT INTO chunks_fts(rowid, text) VALUES (:id, :text)"),
                      [{"id": r.id, "text": r.text} for r in rows])
        report.docs_changed += changed
        report.docs_added += not changed
        report.chunks_added += len(rows)
        return removed


def _delete_chunks(s, ids: list[int]) -> None:
    if ids:
        s.execute(text("DELETE FROM chunks_fts WHERE rowid = :id"), [{"id": i} for i in ids])
        for part in id_batches(ids):
            s.execute(delete(Chunk).where(Chunk.id.in_(part)))  # membership rows cascade


def _reuse_chunks(s, document_id: int, chunks: list[TextChunk]) -> tuple[list[tuple[int, TextChunk]], list[int]]:
    """Match an edited document's new chunks to its old ones by text (a vector depends on the text only).

    Matched chunks keep their row (id, vectors of every encoder, FTS entry) with their new position;
    returns the new chunks to insert, as (ordinal, chunk), and the ids of old chunks no new chunk matched
    (deleted here). Chunking cuts at paragraph boundaries first, so an edit leaves the chunks away from
    it identical and only the few around it are embedded again.
    """
    by_text: dict[str, deque[int]] = defaultdict(deque)
    for chunk_id, chunk_text_ in s.execute(select(Chunk.id, Chunk.text).where(Chunk.document_id == document_id)
                                           .order_by(Chunk.ordinal)):
        by_text[chunk_text_].append(chunk_id)
    fresh, moves = [], []
    for ordinal, chunk in enumerate(chunks):
        same = by_text.get(chunk.text)
        if same:
            moves.append({"id": same.popleft(), "ordinal": ordinal, "start": chunk.start, "end": chunk.end,
                          "n_tokens": chunk.n_tokens})
        else:
            fresh.append((ordinal, chunk))
    if moves:
        s.execute(update(Chunk), moves)
    removed = [chunk_id for ids in by_text.values() for chunk_id in ids]
    _delete_chunks(s, removed)
    return fresh, removed
