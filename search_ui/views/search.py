"""Search page: query, instruction presets (shown verbatim), k, hybrid, path/type filters, highlighted hits."""
from __future__ import annotations

import sys
import time

import streamlit as st
from sqlalchemy import select

from adaptation.errors import L2VError

from ..highlight import Passage, best_passage, best_passages, highlight_html
from ..settings import root_path
from . import common
from .common import esc

PRESETS = {
    "Web search": "Given a web search query, retrieve relevant passages that answer the query:",
    "Question answering": "Given a question, retrieve passages that answer the question:",
    "Similar text": "Retrieve semantically similar text:",
    "Scientific claim": "Given a scientific claim, retrieve documents that support or refute the claim:",
}
SAVED, NONE, CUSTOM = "Encoder's saved instruction", "No instruction", "Custom…"


def instruction_picker(info, key: str = "search") -> tuple[str | None, str]:
    """(value for Index.search, exact text shown): None uses the encoder's saved query instruction."""
    saved = (info.config or {}).get("query_instruction") or ""
    options = ([SAVED] if saved else []) + list(PRESETS) + [NONE, CUSTOM]
    choice = st.selectbox("Instruction", options, key=f"{key}_preset",
                          help="Text the encoder prefixes to your query; it steers what 'relevant' means.")
    if choice == SAVED:
        value, shown = None, saved
    elif choice == NONE:
        value, shown = "", ""
    elif choice == CUSTOM:
        value = st.text_input("Custom instruction", key=f"{key}_custom", placeholder="Given a …, retrieve …:")
        shown = value
    else:
        value = shown = PRESETS[choice]
    st.caption("Prefixed to your query:")
    st.code(shown or "(nothing: the query is embedded as typed)", language=None)
    return value, shown


@st.cache_data(show_spinner=False, ttl=60)
def file_types(db: str) -> list[str]:
    from indexer.schema import Document

    with common.open_index(db).Session() as s:
        return sorted(t for t in s.scalars(select(Document.doc_type).distinct()) if t)


def semantic_scorer(embedder, instruction: str | None):
    """Cosine of each passage with the query, by the encoder that ranked the hits (one batched call)."""
    def score(query: str, pieces: list[str]) -> list[float]:
        q = embedder.encode_queries([query], instruction=instruction)[0]
        return (embedder.encode_documents(pieces) @ q).tolist()

    return score


def hit_html(hit, query: str, shared: list[str] | None = None, passage: Passage | None = None) -> str:
    passage = passage or best_passage(hit.text, query)
    meta = f"<code>{esc(hit.path)}</code> · score {hit.score:.4f}"
    if hit.bm25_rank is not None or hit.dense_score is not None and hit.dense_score != hit.score:
        dense = "-" if hit.dense_score is None else f"{hit.dense_score:.4f}"
        meta += f" · dense {dense} · BM25 rank {hit.bm25_rank or '-'}"
    badge = f'<span class="l2v-shared">shared with {esc(", ".join(shared))}</span>' if shared else ""
    return (f'<div class="l2v-hit" data-chunk="{hit.chunk_id}"><div class="l2v-head">{hit.rank}. {esc(hit.title)}'
            f'{badge}</div><div class="l2v-meta">{meta}</div>'
            f'<div class="l2v-text">{highlight_html(hit.text, passage, query)}</div></div>')


@st.cache_data(show_spinner=False, ttl=300, max_entries=256)
def _context(db: str, root: str | None, document_id: int, start: int, end: int):
    from ..documents import hit_context

    return hit_context(common.open_index(db), document_id, start, end, chars=700, root=root)


def show_context(idx, hit) -> None:
    """The document around the hit; a refused or missing file is an error inside the expander only."""
    root = root_path(sys.argv[1:])
    try:
        ctx = _context(str(idx.path), str(root) if root else None, hit.document_id, hit.start, hit.end)
    except L2VError as err:
        st.error(str(err))
        return
    if ctx.note:
        st.caption(ctx.note)
    st.html(f'<div class="l2v-context">{esc(ctx.before)}<mark>{esc(ctx.hit)}</mark>{esc(ctx.after)}</div>')


def render(idx, db: str) -> None:
    st.header("Search")
    names = common.encoder_names(idx)
    infos = {e.name: e for e in idx.encoders()}
    left, right = st.columns([3, 1])
    with right:
        name = st.selectbox("Encoder", names, key="search_encoder")
        k = st.number_input("Results (k)", 1, 100, 10, key="search_k")
        hybrid = st.toggle("Hybrid (dense + BM25)", key="search_hybrid", value=True,
                           help="Fuse the encoder's ranking with keyword BM25 by reciprocal rank fusion "
                                "(on by default: it rescues exact names and small encoders).")
        dense_weight = st.slider("Dense weight", 0.0, 1.0, idx.hybrid_dense_weight(name), 0.05,
                                 key=f"search_{name}_dense_weight", disabled=not hybrid,
                                 help="The encoder's share of the fused ranking; the rest is BM25's. The default is "
                                      "the weight the encoder recorded (measured for it: a weak encoder gets less).")
        with st.expander("Filters"):
            glob = st.text_input("Path glob", key="search_path", placeholder="peps/** or *.md")
            types = st.multiselect("File types", file_types(db), key="search_types")
    with left:
        query = st.text_input("Query", key="search_query", placeholder="What are you looking for?")
        instruction, _ = instruction_picker(infos[name], key=f"search_{name}")
    if not query.strip():
        st.info("Type a query and press Enter. Hits show the best-matching passage highlighted.")
        return
    with common.friendly():
        model = common.embedder(idx, name)
        with st.spinner("Searching…"):
            started = time.perf_counter()
            hits = idx.search(query, encoder=name, k=int(k), instruction=instruction,
                              where={"path": glob or None, "type": types}, hybrid=hybrid,
                              dense_weight=dense_weight)
            elapsed = (time.perf_counter() - started) * 1000
    if not hits:
        st.warning("No hits. Loosen the filters or try other words.")
        return
    st.caption(f"{len(hits)} hits from encoder '{name}' · highlighted: the passage sharing the query's rarest "
               "words, else the one the encoder finds closest")
    passages = best_passages([h.text for h in hits], query, semantic=semantic_scorer(model, instruction))
    for hit, passage in zip(hits, passages):
        st.html(hit_html(hit, query, passage=passage))
        with st.expander("Surrounding text"):
            show_context(idx, hit)
    st.caption(f"{len(hits)} hits for “{query}” in {elapsed:.0f} ms (search on the server)")
