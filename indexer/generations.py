"""The writer's side of the FAISS files: one generation per commit, superseded ones retired.

Each encoder's vectors live in one FAISS file per commit (``faiss_path``); SQLite's ``encoders``
row names the live generation and its ``memberships`` the chunk ids in it, both written in the same
transaction as the chunk rows they account for. This class holds the writer's copy of each
encoder's index and row, writes new generations into a caller's open transaction
(``commit``/``remove_chunks``, the ``VectorCommitter`` that ``DocumentSync`` uses), and deletes the
files a commit superseded after a grace (``RetiredFiles``), so a reader that read the previous
generation's number still finds its file.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.orm import Session

from .errors import FaissFileError
from .results import RunReport
from .store.layout import RetiredFiles, faiss_path, live_files, remove_stale
from .store.schema import EncoderRow, Membership
from .vectors import VectorStore


class VectorGenerations:
    def __init__(self, db: Path, session_factory):
        self.db, self.Session = db, session_factory
        self.rows: dict[int, EncoderRow] = {}     # encoder id -> its row as last committed by this writer
        self.stores: dict[int, VectorStore] = _LazyStores(self)
        self.retired = RetiredFiles()             # superseded generations readers may still be opening

    def start(self, rows: list[EncoderRow]) -> None:
        """Begin from the committed encoder rows (after setup); stores are read from disk on first use."""
        self.rows = {r.id: r for r in rows}
        self.stores = _LazyStores(self)

    def live_files(self) -> set[Path]:
        return live_files(self.db, [(r.id, r.name, r.generation) for r in self.rows.values()])

    def remove_stale(self) -> None:
        """Delete every FAISS file no live generation names (retired ones included: the run is over)."""
        remove_stale(self.db, self.live_files())

    def repair(self, report: RunReport) -> None:
        """Read every live FAISS file; one that is missing, corrupt or of the wrong dimension is dropped with
        its memberships, so phase 2 re-embeds every stored chunk into a fresh index."""
        for encoder_id, row in list(self.rows.items()):
            if row.generation == 0:
                continue
            try:
                store = self.stores[encoder_id]
                if store.dim != row.dim:
                    raise FaissFileError(f"{faiss_path(self.db, row.id, row.name, row.generation).name} has "
                                         f"dimension {store.dim}, the encoder {row.dim}")
            except FaissFileError as err:
                self.stores.pop(encoder_id, None)
                with self.Session.begin() as s:
                    n = s.execute(delete(Membership).where(Membership.encoder_id == encoder_id)).rowcount
                    fresh = s.get(EncoderRow, encoder_id)
                    fresh.generation, fresh.ntotal = 0, 0
                    s.flush()
                    self.rows[encoder_id] = fresh
                report.repaired[row.name] = f"{err}; re-embedding its {n} stored chunks"

    def remove_chunks(self, s: Session, chunk_ids: list[int]) -> list[Path]:
        """``VectorCommitter`` for phase 1: the chunk ids leave every encoder's index in ``s``'s commit."""
        touched = [i for i in self.rows if self.stores[i].remove(chunk_ids)]
        return self.commit(s, touched)

    def commit(self, s: Session, encoder_ids: list[int]) -> list[Path]:
        """Write a new FAISS generation for each encoder and record it in the open transaction ``s``;
        returns the files it supersedes (``retire`` them once ``s`` committed)."""
        old = []
        for encoder_id in encoder_ids:
            row = s.get(EncoderRow, encoder_id)
            store = self.stores[encoder_id]
            new_gen = row.generation + 1
            store.save(faiss_path(self.db, row.id, row.name, new_gen))
            if row.generation:
                old.append(faiss_path(self.db, row.id, row.name, row.generation))
            row.generation, row.ntotal = new_gen, store.ntotal
            self.rows[encoder_id] = row
        return old

    def retire(self, paths: list[Path]) -> None:
        """``VectorCommitter``: superseded generations go after a grace, the rest when the run ends."""
        self.retired.retire(paths)

    def load_store(self, row: EncoderRow) -> VectorStore:
        if row.generation == 0:
            return VectorStore.create(row.dim, row.factory)
        return VectorStore.load(faiss_path(self.db, row.id, row.name, row.generation), row.factory)


class _LazyStores(dict):
    """encoder id -> VectorStore, read from disk on first use."""

    def __init__(self, owner: VectorGenerations):
        super().__init__()
        self.owner = owner

    def __missing__(self, encoder_id: int) -> VectorStore:
        self[encoder_id] = store = self.owner.load_store(self.owner.rows[encoder_id])
        return store
