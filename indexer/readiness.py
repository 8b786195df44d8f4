"""Whether a database can answer a search truthfully yet: a first build still running, or one stopped early.

Checked by ``Index.search`` / ``search_documents`` before the model loads, so a database being built says so
instead of answering "no results" from partial vectors.
"""
from __future__ import annotations

from sqlalchemy import func, select

from .errors import IndexNotReadyError
from .store.schema import Chunk, Run


def check_searchable(index, encoder: str | None = None) -> None:
    """Refuse, in one line, a search whose answer could only mislead ("no results" on a database being built).

    That is: the database's first build is still running (its vectors are partial), or the encoder has no
    vectors although chunks exist (a build still running, or one stopped before its first commit). A
    finished empty index is searchable: "no results" is then the truth. Cheap on a built database (one tiny
    query on the runs table); ``search`` and ``search_documents`` call it before loading the model.
    """
    with index.Session() as s:
        row = index._encoder_row(encoder, s)
        finished = s.scalar(select(Run.id).where(Run.status == "done").limit(1)) is not None
        if finished and row.ntotal:
            return
        n_chunks = s.scalar(select(func.count(Chunk.id)))
    runs = index.runs(1)
    if runs and runs[0].status == "running" and (not finished or not row.ntotal):
        whose = f" for encoder '{row.name}'" if finished else ""
        raise IndexNotReadyError(f"'{index.path}' is still being built: `l2v index` has embedded {row.ntotal} of "
                                 f"{n_chunks} chunks so far{whose}; search again when it finishes")
    if not row.ntotal and (n_chunks or not finished):
        raise IndexNotReadyError(f"'{index.path}' has no vectors for encoder '{row.name}' yet: the `l2v index` run "
                                 f"that embeds them stopped first; run `l2v index {index.root or 'FOLDER'} --db "
                                 f"{index.path}` again to resume")
