"""``build_index``: bring a database in line with a folder, for one or more encoders.

Phase 1 (sync) walks the folder and, one transaction per batch of documents,
replaces changed documents, deletes vanished ones and records skipped files; old
chunk ids leave every encoder's FAISS file in that same commit. Phase 2 (embed)
gives each encoder the chunks it lacks, committing membership rows together with
the generation number of a freshly written FAISS file. A kill at any moment leaves
the last committed state; the next run resumes (unchanged files are skipped by
size+mtime without being read, chunks already embedded are not embedded again).

Each run first reads every live FAISS file: one that is missing or corrupt is rebuilt
from the chunks SQLite stores (re-embedded), so ``l2v index`` is the repair command.
An OS/disk/SQLite failure marks the run failed and removes the files it had written
but not committed; the previous state stays live. The FAISS generations themselves
(writing, retiring, repairing) are ``generations.VectorGenerations``.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
from sqlalchemy import delete, select, update

from adaptation.config import check_dense_weight
from adaptation.errors import EncoderFormatError
from adaptation.numeric import unit_rows
from adaptation.progress import ProgressBar
from adaptation.storage import atomic_directory

from .chunking import ChunkingConfig, ChunkTokenizer, load_tokenizer
from .embedding import (Batch, Embedder, InProcessEngine, LazyEmbedder, fingerprint_matches, load_embedder,
                        loaded_config, resolve_source)
from .errors import ChunkingMismatchError, EncoderMismatchError, NoEncoderError, UsageError
from .generations import VectorGenerations
from .interrupts import IndexInterrupted, InterruptGuard
from .options import IndexOptions, check_options
from .results import RunReport
from .store.database import INDEX_JSON, SQLITE_NAME, get_setting, make_engine, session_factory, set_setting, writer_lock
from .store.layout import crash_point, live_files, remove_stale
from .store.location import created, inspect_database, mark_creating, remove_own_files
from .store.schema import Chunk, EncoderRow, Membership, Run
from .store.summary import write_index_json
from .sync import DocumentSync
from .vectors import check_factory, factory_problem

__all__ = ["IndexOptions", "RunReport", "build_index"]


def build_index(folder: str | Path, db: str | Path, encoders: Mapping[str, str | Embedder] | None = None,
                options: IndexOptions | None = None) -> RunReport:
    """Index ``folder`` into ``db`` with ``encoders`` (name -> source or Embedder; None = those recorded)."""
    options = options or IndexOptions()
    folder, db = Path(folder).expanduser().resolve(), Path(db).expanduser().resolve()
    if not folder.is_dir():
        raise UsageError(f"folder '{folder}' does not exist or is not a directory")
    check_options(options)                      # user mistakes refused before anything is written
    state = inspect_database(db, folder)        # ... and a --db that is not ours to write
    existed, builder = db.exists(), None
    with writer_lock(db):
        try:
            state = inspect_database(db, folder)  # again, holding the lock: another writer may have created it
            if not encoders and state.kind == "creating" and state.encoders:
                encoders = dict(state.encoders)   # complete the interrupted creation with what it was asked for
            factories: dict[str, str] = {}
            if options.rebuild and not encoders:  # keep what the database was built with, not the bundled default
                encoders, factories = _recorded_encoders(db)
            if state.kind != "database" or options.rebuild:
                mark_creating(db, {n: s for n, s in _sources(encoders or {}).items() if not s.startswith("<")})
            if options.rebuild:
                _wipe(db)
            crash_point("create_before_sqlite")
            engine = make_engine(db, create=True)
            try:
                builder = _Builder(folder, db, engine, options, factories)
                return builder.run(encoders)
            finally:
                engine.dispose()
        except BaseException:
            if builder is None or not builder.started:  # e.g. an encoder that does not load:
                if not existed:                          # leave no empty database behind
                    shutil.rmtree(db, ignore_errors=True)
                elif state.kind == "new":                # the user's empty folder stays, empty
                    remove_own_files(db)
            raise


def _sources(encoders: Mapping[str, str | Embedder]) -> dict[str, str]:
    """name -> where each encoder loads from ('<in-memory ...>' for an object without a source)."""
    return {n: (e if isinstance(e, str) else getattr(e, "source", f"<in-memory {type(e).__name__}>"))
            for n, e in encoders.items()}


def _recorded_encoders(db: Path) -> tuple[dict[str, Embedder], dict[str, str]]:
    """name -> lazily loaded recorded encoder (fingerprint-checked), and name -> its FAISS factory."""
    if not (db / SQLITE_NAME).is_file():
        return {}, {}
    engine = make_engine(db)
    try:
        with session_factory(engine)() as s:
            rows = list(s.scalars(select(EncoderRow).order_by(EncoderRow.id)))
    finally:
        engine.dispose()
    return ({r.name: LazyEmbedder(r.name, r.source, r.fingerprint, r.dim) for r in rows},
            {r.name: r.factory for r in rows})


def _wipe(db: Path) -> None:
    for name in (SQLITE_NAME, SQLITE_NAME + "-wal", SQLITE_NAME + "-shm", INDEX_JSON):
        (db / name).unlink(missing_ok=True)
    for sub in ("faiss", "tokenizer"):
        shutil.rmtree(db / sub, ignore_errors=True)


class _Builder:
    def __init__(self, folder: Path, db: Path, engine, options: IndexOptions, factories: dict[str, str]):
        self.folder, self.db, self.options, self.factories = folder, db, options, factories
        self.Session = session_factory(engine)
        self.vectors = VectorGenerations(db, self.Session)
        self.started = False  # past setup (encoders loaded): from here on a failed run keeps what it did
        self.guard = InterruptGuard()  # phase 2: Ctrl-C never lands between a vector's add and its bookkeeping
        self.kept = 0                  # chunks this run embedded and committed (what a Ctrl-C keeps)
        self.repaired: dict[str, str] = {}  # encoder name -> what setup repaired (a factory that cannot work)

    def run(self, encoders: Mapping[str, str | Embedder] | None) -> RunReport:
        started = time.perf_counter()
        with self.Session.begin() as s:
            chunking = self._settings(s)
            embedders = self._embedders(s, encoders)
            named = self._register(s, embedders)
            # we hold the writer lock, so a run still marked running was killed
            s.execute(update(Run).where(Run.status == "running").values(status="interrupted"))
            run = Run(started_at=time.time(), root=str(self.folder), encoders=",".join(embedders))
            s.add(run)
            s.flush()
            report = RunReport(run_id=run.id)
            report.repaired.update(self.repaired)
            committed = list(s.scalars(select(EncoderRow)))
            crash_point("setup_before_commit")
        created(self.db)  # the encoders are committed: no longer a half-created database
        self.started = True
        try:
            self.vectors.start(committed)
            self.vectors.repair(report)
            self.vectors.remove_stale()
            first = next(iter(embedders.values()))  # loaded only if some file needs chunking
            DocumentSync(self.Session, self.folder, [self.db], self.options, self.vectors, lambda: self._chunking_tokenizer(first),
                         chunking, report).run()
            for name, embedder in embedders.items():
                report.chunks_embedded[name] = self._embed_missing(named[name], embedder, report)
            write_index_json(self.db, self.Session)  # before "done": a full disk here fails the run too
        except KeyboardInterrupt:   # Ctrl-C: what was embedded is committed (_embed_missing); say how much
            self._fail(report.run_id, "interrupted", report)
            raise IndexInterrupted(self.kept) from None
        except BaseException:
            self._fail(report.run_id)
            raise
        report.seconds = time.perf_counter() - started
        with self.Session.begin() as s:
            row = s.get(Run, report.run_id)
            row.status, row.finished_at = "done", time.time()
            for key in ("docs_seen", "docs_added", "docs_changed", "docs_deleted", "docs_skipped",
                        "chunks_added", "chunks_removed"):
                setattr(row, key, getattr(report, key))
            row.chunks_embedded = sum(report.chunks_embedded.values())
            for name, embedder in embedders.items():  # search preferences (e.g. hybrid_dense_weight) may have changed
                config = loaded_config(embedder)
                _check_search_preferences(name, config)
                if config is not None:
                    s.get(EncoderRow, named[name]).config = json.dumps(config, default=str)
        with contextlib.suppress(OSError):  # superseded generations still in their grace; the next run retries
            self.vectors.remove_stale()
        return report

    def _fail(self, run_id: int, status: str = "failed", report: RunReport | None = None) -> None:
        """Mark the run failed (or interrupted, by Ctrl-C, with ``report``'s counts) and delete FAISS files no
        commit made live (a kill cannot get here: status shows its run as interrupted). Best effort: a full
        disk may refuse even this."""
        try:
            with self.Session.begin() as s:
                row = s.get(Run, run_id)
                row.status, row.finished_at = status, time.time()
                if report is not None:
                    for key in ("docs_seen", "docs_added", "docs_changed", "docs_deleted", "docs_skipped",
                                "chunks_added", "chunks_removed"):
                        setattr(row, key, getattr(report, key))
                    row.chunks_embedded = self.kept
        except Exception:
            pass
        try:
            with self.Session() as s:
                rows = list(s.scalars(select(EncoderRow)))
            remove_stale(self.db, live_files(self.db, [(r.id, r.name, r.generation) for r in rows]))
        except Exception:
            pass

    # ---------------------------------------------------------------- setup
    def _settings(self, s) -> ChunkingConfig:
        recorded_root = get_setting(s, "root")
        if recorded_root and recorded_root != str(self.folder):
            raise UsageError(f"'{self.db}' indexes '{recorded_root}', not '{self.folder}'; use another --db, "
                             "or --rebuild to index this folder instead")
        set_setting(s, "root", str(self.folder))
        want = ChunkingConfig(self.options.chunk_tokens if self.options.chunk_tokens is not None
                               else int(get_setting(s, "chunk_tokens", "400")),
                              self.options.overlap if self.options.overlap is not None
                              else int(get_setting(s, "overlap", "64")))
        have = get_setting(s, "chunk_tokens")
        if have is not None and (int(have), int(get_setting(s, "overlap"))) != (want.max_tokens, want.overlap):
            raise ChunkingMismatchError(
                f"'{self.db}' was chunked with --chunk-tokens {have} --overlap {get_setting(s, 'overlap')}; "
                "encoders must share chunks, so pass those values or --rebuild")
        set_setting(s, "chunk_tokens", str(want.max_tokens))
        set_setting(s, "overlap", str(want.overlap))
        return want

    def _embedders(self, s, encoders) -> dict[str, Embedder]:
        if not encoders:
            recorded = list(s.scalars(select(EncoderRow).order_by(EncoderRow.id)))
            if recorded:
                encoders = {r.name: LazyEmbedder(r.name, r.source, r.fingerprint, r.dim) for r in recorded}
            else:
                try:
                    source = resolve_source(None)
                except NoEncoderError:
                    raise NoEncoderError(f"'{self.db}' has no encoder yet: pass --encoder ENCODER_DIR_OR_ID "
                                         "(a saved encoder directory, an LLM2Vec checkpoint or a hub id)") from None
                encoders = {Path(source).name: source}
        self.sources = _sources(encoders)
        return {n: load_embedder(resolve_source(e)) if isinstance(e, str) else e for n, e in encoders.items()}

    def _register(self, s, embedders: dict[str, Embedder]) -> dict[str, int]:
        ids = {}
        for name, embedder in embedders.items():
            row = s.scalar(select(EncoderRow).where(EncoderRow.name == name))
            factory = check_factory(self.options.factory, embedder.dim) if self.options.factory else None
            _check_search_preferences(name, loaded_config(embedder))
            if row is None:
                recorded = self.factories.get(name)  # --rebuild keeps the factory, unless it cannot work
                if recorded and factory_problem(recorded, embedder.dim) and not factory:
                    self.repaired[name] = (f"its FAISS factory '{recorded}' cannot work "
                                           f"({factory_problem(recorded, embedder.dim)}); rebuilt as 'Flat'")
                    recorded = None
                row = EncoderRow(name=name, fingerprint=embedder.fingerprint, dim=int(embedder.dim),
                                 factory=factory or recorded or "Flat", source=self.sources[name],
                                 config=json.dumps(embedder.config, default=str), generation=0, ntotal=0,
                                 created_at=time.time())
                s.add(row)
                s.flush()
            elif not fingerprint_matches(row.fingerprint, embedder):
                raise EncoderMismatchError(
                    f"encoder '{name}' in '{self.db}' was built by a different model (fingerprint "
                    f"{row.fingerprint}, now {embedder.fingerprint}); pick a new --name to index it beside, "
                    "or --rebuild")
            elif row.fingerprint != embedder.fingerprint and not isinstance(embedder, LazyEmbedder):
                row.fingerprint = embedder.fingerprint  # recorded by an older l2v (see fingerprint_aliases)
            if factory_problem(row.factory, row.dim):
                self._replace_factory(s, row, factory or "Flat")
            elif factory and factory != row.factory:
                raise UsageError(f"encoder '{name}' uses --faiss '{row.factory}'; pass --rebuild to change it")
            if not self.sources[name].startswith("<"):
                row.source = self.sources[name]  # the encoder may have moved; keep where it loads from now
            ids[name] = row.id
        for row in s.scalars(select(EncoderRow).where(EncoderRow.name.not_in(list(embedders)))):
            if factory_problem(row.factory, row.dim):  # not in this run: exact, re-embedded by the next full run
                self._replace_factory(s, row, "Flat")
        return ids

    def _replace_factory(self, s, row: EncoderRow, factory: str) -> None:
        """A recorded factory that cannot work (``HNSW0`` aborts the process, ``IVF0`` stores nothing, ``PCA32``
        mislabels): its vectors are unusable, so they are dropped and re-embedded from the stored chunks
        into ``factory``, in the setup commit (a kill leaves the old state, and the old file goes stale)."""
        problem = factory_problem(row.factory, row.dim)
        n = s.execute(delete(Membership).where(Membership.encoder_id == row.id)).rowcount
        self.repaired[row.name] = (f"its FAISS factory '{row.factory}' cannot work ({problem}); rebuilding it as "
                                   f"'{factory}' from its {n} stored chunks")
        row.factory, row.generation, row.ntotal = factory, 0, 0

    def _chunking_tokenizer(self, first: Embedder) -> ChunkTokenizer:
        """Chunks are shared by all encoders, so the tokenizer that made them is saved in the database."""
        target = self.db / "tokenizer"
        if not target.is_dir():
            with atomic_directory(target) as tmp:
                first.tokenizer.save(tmp)
        return load_tokenizer(target)

    # ---------------------------------------------------------------- phase 2
    def _embed_missing(self, encoder_id: int, embedder: Embedder, report: RunReport) -> int:
        """Give the encoder every chunk it lacks; the engine runs the model, this process does every commit.

        The bar moves per embedder batch (chunks/s and ETA). A commit comes after ``commit_chunks`` new
        vectors (and a growing share of the index: rewrites stay O(n)) or ``commit_seconds`` of embedding,
        whichever is first, so a kill loses about a minute at most (on an index so large that rewriting its
        FAISS file takes over 1/10 of that, every 9 commit-durations instead: writing stays under 10% of the
        run); Ctrl-C loses nothing embedded: the pending vectors are committed before the interrupt goes on
        (``interrupts``).
        """
        opts, pending, embedded = self.options, [], 0
        with self.Session() as s:
            total = s.query(Chunk.id).where(_missing_for(encoder_id)).count()
        bar = ProgressBar(total=total, desc=f"embedding ({self.vectors.rows[encoder_id].name})", unit="chunk",
                          disable=not opts.progress or total == 0)
        engine = _engine(opts) if total else InProcessEngine()
        last_commit, commit_cost = time.monotonic(), 0.0
        # the bar is closed before an error propagates, so the error line is the last one printed
        with bar, self.guard:
            try:
                for ids, vectors in engine.embed(embedder, self._pending_batches(encoder_id)):
                    with self.guard.protected():  # vectors and the ids that account for them enter together
                        store = self.vectors.stores[encoder_id]
                        store.add(ids, unit_rows(vectors))
                        store.maybe_train()
                        pending.extend(ids.tolist())
                        embedded += len(ids)
                        bar.update(len(ids))
                        if len(pending) >= max(opts.commit_chunks, opts.commit_growth * store.ntotal) or \
                                time.monotonic() - last_commit >= max(opts.commit_seconds, 9 * commit_cost):
                            began = time.monotonic()
                            self._commit_membership(encoder_id, pending)
                            pending, last_commit = [], time.monotonic()
                            commit_cost = last_commit - began
                with self.guard.protected():
                    # the end: a staged IVF/PQ trains now if it has at least one vector per centroid
                    trained = encoder_id in self.vectors.stores and self.vectors.stores[encoder_id].maybe_train(final=True)
                    if trained or pending:
                        self._commit_membership(encoder_id, pending)
                        pending = []
            except KeyboardInterrupt:
                if pending:               # keep what was embedded: the rerun resumes after it
                    with self.guard.protected():
                        self._commit_membership(encoder_id, pending)
                raise
        if hasattr(engine, "workers"):
            report.embedding_workers[self.vectors.rows[encoder_id].name] = len(engine.workers)
        return embedded

    def _pending_batches(self, encoder_id: int) -> Iterator[Batch]:
        """(ids, texts) of the chunks the encoder lacks, in id order, ``embed_batch`` at a time (read lazily)."""
        last = 0
        while True:
            with self.Session() as s:
                rows = s.execute(select(Chunk.id, Chunk.text).where(Chunk.id > last, _missing_for(encoder_id))
                                 .order_by(Chunk.id).limit(self.options.embed_batch)).all()
            if not rows:
                return
            last = int(rows[-1][0])
            yield np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows]

    def _commit_membership(self, encoder_id: int, ids: list[int]) -> None:
        with self.Session() as s, s.begin():
            if ids:
                s.execute(Membership.__table__.insert(), [{"chunk_id": i, "encoder_id": encoder_id} for i in ids])
            old = self.vectors.commit(s, [encoder_id])
            crash_point("embed_before_commit")
        self.kept += len(ids)
        crash_point("embed_after_commit")
        self.vectors.retire(old)


def _check_search_preferences(name: str, config: dict | None) -> None:
    """What an encoder records for searches must work: a ``hybrid_dense_weight`` of 5 or NaN, once recorded,
    broke every later hybrid search of the database (saved encoders are checked when read; plugins here)."""
    if config and "hybrid_dense_weight" in config:
        try:
            check_dense_weight(config["hybrid_dense_weight"], f"encoder '{name}'")
        except EncoderFormatError as err:
            raise UsageError(f"{err}; fix it in the encoder's configuration") from None


def _engine(options: IndexOptions):
    """Where the model runs: Ray Data actors when asked for (Ray is imported only then), else here."""
    if options.ray is None:
        return InProcessEngine()
    from .embedding.ray_engine import RayEngine

    return RayEngine(options.ray)


def _missing_for(encoder_id: int):
    """SQL condition: the chunk has no vector in this encoder yet."""
    return ~select(Membership.chunk_id).where(Membership.chunk_id == Chunk.id,
                                              Membership.encoder_id == encoder_id).exists()

