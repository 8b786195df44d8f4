"""Index page: documents, chunks, encoders with saved configs, recent runs, skipped files, eval report."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import streamlit as st

from . import common


def when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"


# Seven columns that fit the page (thirteen did not: the counts were cut off at the right edge).
RUN_COLUMNS = {
    "run": st.column_config.NumberColumn("run", width="small"),
    "started": st.column_config.TextColumn("started (UTC)", width="medium"),
    "took": st.column_config.TextColumn("took", width="small"),
    "status": st.column_config.TextColumn("status", width="small"),
    "encoders": st.column_config.TextColumn("encoders", width="medium"),
    "documents": st.column_config.TextColumn("documents", width="large",
                                             help="seen: + added, ~ changed, - deleted; skipped"),
    "chunks": st.column_config.TextColumn("chunks", width="medium", help="+ added, - removed; embedded"),
}


def took(started: float | None, finished: float | None) -> str:
    if not started or not finished:
        return "-"
    seconds = max(0.0, finished - started)
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"


def run_rows(runs) -> list[dict]:
    """One compact row per indexing run: the document and chunk counts folded into one column each."""
    return [{"run": r.id, "started": when(r.started_at).removesuffix(" UTC"), "took": took(r.started_at, r.finished_at),
             "status": r.status, "encoders": r.encoders,
             "documents": f"{r.docs_seen} seen: +{r.docs_added} ~{r.docs_changed} -{r.docs_deleted}; "
                          f"{r.docs_skipped} skipped",
             "chunks": f"+{r.chunks_added} -{r.chunks_removed}; {r.chunks_embedded} embedded"} for r in runs]


def render(idx, db: str, report: Path | None = None) -> None:
    st.header("Index")
    with common.friendly():
        status = idx.status(check=False)
    a, b, c = st.columns(3)
    a.metric("Documents", f"{status.n_documents:,}")
    b.metric("Chunks", f"{status.n_chunks:,}")
    c.metric("Encoders", len(status.encoders))
    st.caption(f"Database `{status.path}` · indexed folder `{status.root or '-'}` · chunks of "
               f"{status.chunk_tokens} tokens, overlap {status.overlap}")
    st.subheader("Encoders")
    if not status.encoders:
        st.info("No encoder yet: `l2v index FOLDER --db DB --encoder ENCODER_DIR`.")
    st.dataframe([{"name": e.name, "dim": e.dim, "vectors": e.n_vectors, "pending": e.n_pending, "faiss": e.factory,
                   "generation": e.generation, "fingerprint": e.fingerprint, "source": e.source}
                  for e in status.encoders], hide_index=True, width="stretch")
    for e in status.encoders:
        with st.expander(f"Saved config of '{e.name}'"):
            st.json(e.config or {})
    st.subheader("Last runs")
    st.dataframe(run_rows(idx.runs(20)), hide_index=True, width="stretch", column_config=RUN_COLUMNS)
    st.subheader(f"Skipped files ({len(status.skipped)})")
    if status.skipped:
        st.dataframe([{"path": s.path, "reason": s.reason, "detail": s.detail} for s in status.skipped],
                     hide_index=True, width="stretch")
    else:
        st.caption("None: every file found was indexed.")
    st.subheader("Documents")
    glob = st.text_input("Filter by path glob", key="index_glob", placeholder="*.rst")
    docs = idx.documents(limit=1000, where={"path": glob} if glob else None)
    st.dataframe([{"path": d.path, "title": d.title, "type": d.doc_type, "chunks": d.n_chunks, "bytes": d.size,
                   "indexed": when(d.indexed_at)} for d in docs], hide_index=True, width="stretch")
    if len(docs) == 1000:
        st.caption("First 1000 documents; narrow the glob to see others.")
    if st.button("Check consistency (SQLite vs FAISS)", key="index_check"):
        problems = idx.check_consistency()
        st.success("Consistent: every indexed chunk is in its FAISS file.") if not problems else \
            st.error("\n".join(problems))
    if report is not None:
        show_report(report)


def show_report(path: Path) -> None:
    from indexer import L2VError, load_report

    st.subheader("Evaluation report")
    try:
        rep = load_report(path)
    except L2VError as err:
        st.warning(str(err))
        return
    st.caption(f"`{path}` · created {rep.created}")
    rows = rep.to_rows()
    st.dataframe([{**r, "best": ", ".join(r["best"])} for r in rows], hide_index=True, width="stretch")
