"""Search page: query, instruction presets (shown verbatim), k, hybrid, path/type filters, highlighted hits."""
from __future__ import annotations

import csv
import io
import json
import sys
import time

import streamlit as st

from indexer import DEFAULT_HYBRID, L2VError, blank_query

from ..highlight import Passage, best_passage, highlight_html
from ..passages import page_passages
from .. import url_state
from ..settings import root_path
from . import common
from .common import esc

PRESETS = {
    "Web search": "Given a web search query, retrieve relevant passages that answer the query:",
    "Question answering": "Given a question, retrieve passages that answer the question:",
    "Similar text": "Retrieve semantically similar text:",
    "Scientific claim": "Given a scientific claim, retrieve documents that support or refute the claim:",
}
BLANK_HINT = "Your query has no letter or digit, so there is nothing to search for: type some words."
SAVED, NONE, CUSTOM = "Encoder's saved instruction", "No instruction", "Custom…"


def instruction_picker(info, key: str = "search") -> tuple[str | None, str]:
    """(value for Index.search, exact text shown): None uses the encoder's saved query instruction."""
    saved = (info.config or {}).get("query_instruction") or ""
    options = instruction_options(info)
    choice = st.selectbox("Instruction", options, key=f"{key}_preset",
                          help="Text the encoder prefixes to your query; it steers what 'relevant' means. "
                               "'Trained:' choices are the exact instructions the encoder was trained with.")
    tasks = trained_tasks(info)
    if choice == SAVED:
        value, shown = None, saved
    elif choice in tasks:
        value = shown = tasks[choice]
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
    return common.open_index(db).document_types()


def excerpt_html(text: str, passage: Passage, query: str, context: int = 240) -> str:
    """The passage first: the chunk cut to ``context`` characters around it, so the match is what you see."""
    if passage.end <= passage.start or len(text) <= passage.end - passage.start + 2 * context:
        return highlight_html(text, passage, query)
    start, end = max(0, passage.start - context), min(len(text), passage.end + context)
    shifted = Passage(passage.start - start, passage.end - start, passage.score, passage.how)
    return (("… " if start else "") + highlight_html(text[start:end], shifted, query)
            + (" …" if end < len(text) else ""))


def hit_html(hit, query: str, shared: list[str] | None = None, passage: Passage | None = None,
             rank: int | None = None, extra: str = "") -> str:
    """One result card: title, path and scores, then the best-matching passage (highlighted) of its chunk."""
    passage = passage or best_passage(hit.text, query)
    meta = f"<code>{esc(hit.path)}</code> · score {hit.score:.4f}"
    if hit.bm25_rank is not None or hit.dense_score is not None and hit.dense_score != hit.score:
        dense = "-" if hit.dense_score is None else f"{hit.dense_score:.4f}"
        meta += f" · dense {dense} · BM25 rank {hit.bm25_rank or '-'}"
    badge = "".join(f'<span class="l2v-shared">{esc(s)}</span>' for s in shared or [])
    return (f'<div class="l2v-hit" data-chunk="{hit.chunk_id}"><div class="l2v-head">{rank or hit.rank}. '
            f'{esc(hit.title)}{badge}</div><div class="l2v-meta">{meta}{extra}</div>'
            f'<div class="l2v-text">{excerpt_html(hit.text, passage, query)}</div></div>')


def passage_html(hit, query: str) -> str:
    """Another matching chunk of the same document, folded under its best one."""
    return (f'<div class="l2v-more"><span class="l2v-meta">score {hit.score:.4f} · characters '
            f'{hit.start}-{hit.end}</span><br>{excerpt_html(hit.text, best_passage(hit.text, query), query, 160)}</div>')


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


PAGE = "search"
STATIC = ["q", "enc", "k", "hy", "g", "path", "types"]
PER_ENCODER = ["w", "ip", "ic"]


def static_fields(names: list[str]) -> list[url_state.Field]:
    return [url_state.Field("q", "search_query", str, ""), url_state.Field("enc", "search_encoder", str, names[0]),
            url_state.Field("k", "search_k", int, 10), url_state.Field("hy", "search_hybrid", bool, DEFAULT_HYBRID),
            url_state.Field("g", "search_group", bool, True), url_state.Field("path", "search_path", str, ""),
            url_state.Field("types", "search_types", list, [])]


def encoder_fields(name: str, info, weight: float) -> list[url_state.Field]:
    first = instruction_options(info)[0]
    return [url_state.Field("w", f"search_{name}_dense_weight", float, weight),
            url_state.Field("ip", f"search_{name}_preset", str, first),
            url_state.Field("ic", f"search_{name}_custom", str, "")]


def trained_tasks(info) -> dict[str, str]:
    """'Trained: <task>' -> instruction, for each task the encoder records (its training instructions)."""
    tasks = (info.config or {}).get("task_instructions") or {}
    return {f"Trained: {name}": text for name, text in tasks.items()} if isinstance(tasks, dict) else {}


def instruction_options(info) -> list[str]:
    saved = (info.config or {}).get("query_instruction") or ""
    return ([SAVED] if saved else []) + list(trained_tasks(info)) + list(PRESETS) + [NONE, CUSTOM]


def _sanitize(choices: dict[str, list], defaults: dict[str, object]) -> None:
    """A hand-edited or stale link may name an encoder, preset or type that is not there: use the default."""
    for key, allowed in choices.items():
        value = st.session_state.get(key)
        if isinstance(value, list):
            st.session_state[key] = [v for v in value if v in allowed]
        elif value not in allowed:
            st.session_state[key] = defaults[key]
    if not 1 <= int(st.session_state.get("search_k", 10)) <= 100:
        st.session_state["search_k"] = 10


def render(idx, db: str) -> None:
    st.header("Search")
    names = common.encoder_names(idx)
    infos = {e.name: e for e in idx.encoders()}
    changed = url_state.url_changed(st, PAGE, STATIC + PER_ENCODER)
    fields = static_fields(names)
    url_state.restore(st, fields, changed)
    _sanitize({"search_encoder": names, "search_types": file_types(db)}, {"search_encoder": names[0]})
    left, right = st.columns([3, 1])
    with right:
        name = st.selectbox("Encoder", names, key="search_encoder")
        more = encoder_fields(name, infos[name], idx.hybrid_dense_weight(name))
        url_state.restore(st, more, changed)
        _sanitize({f"search_{name}_preset": instruction_options(infos[name])},
                  {f"search_{name}_preset": more[1].default})
        fields += more
        k = st.number_input("Results (k)", 1, 100, key="search_k")
        group = st.toggle("Group by document", key="search_group",
                          help="One result per document, ranked by its best passage; its other matching "
                               "passages fold under it. Off: one result per chunk.")
        hybrid = st.toggle("Hybrid (dense + BM25)", key="search_hybrid",
                           help="Fuse the encoder's scores with keyword BM25 scores, each scaled to 0-1 "
                                "(on by default: it rescues exact names and small encoders).")
        dense_weight = st.slider("Dense weight", 0.0, 1.0, step=0.05, key=f"search_{name}_dense_weight",
                                 disabled=not hybrid,
                                 help="The encoder's share of the fused ranking; the rest is BM25's. The default is "
                                      "the weight the encoder recorded (measured for it: a weak encoder gets less).")
        with st.expander("Filters"):
            glob = st.text_input("Path glob", key="search_path", placeholder="peps/** or *.md")
            types = st.multiselect("File types", file_types(db), key="search_types")
    with left:
        query = st.text_input("Query", key="search_query", placeholder="What are you looking for?")
        instruction, _ = instruction_picker(infos[name], key=f"search_{name}")
    url_state.publish(st, PAGE, fields, STATIC + PER_ENCODER)   # the search is a link; Back returns to the last
    if not query.strip():
        st.info("Type a query and press Enter. Results show each document's best-matching passage first.")
        return
    if blank_query(query):
        st.info(BLANK_HINT)
        return
    with common.friendly():
        model = common.embedder(idx, name)
        with st.spinner("Searching…"):
            started = time.perf_counter()
            options = dict(encoder=name, k=int(k), instruction=instruction, where={"path": glob or None, "type": types},
                           hybrid=hybrid, dense_weight=dense_weight)
            documents = idx.search_documents(query, **options) if group else None
            hits = [d.best for d in documents] if group else idx.search(query, **options)
            elapsed = (time.perf_counter() - started) * 1000
    if not hits:
        st.warning("No hits. Loosen the filters or try other words.")
        return
    unit = "documents" if group else "hits"
    st.caption(f"{len(hits)} {unit} from encoder '{name}' · highlighted: the passage sharing the query's rarest "
               "words, else the one the encoder finds closest")
    passages = page_passages([h.text for h in hits], query, model, instruction, common.passage_cache())
    for position, (hit, passage) in enumerate(zip(hits, passages)):
        others = documents[position].passages if group else []
        extra = f" · {len(others)} more passage{'s' * (len(others) != 1)} below" if others else ""
        st.html(hit_html(hit, query, passage=passage, rank=position + 1, extra=extra))
        if others:
            with st.expander(f"{len(others)} more matching passage{'s' * (len(others) != 1)} in this document"):
                st.html("".join(passage_html(other, query) for other in others))
        with st.expander("Surrounding text"):
            show_context(idx, hit)
    export(hits, passages, documents, query, name)
    st.caption(f"{len(hits)} {unit} for “{query}” in {elapsed:.0f} ms (search on the server)")


def result_rows(hits, passages, documents) -> list[dict]:
    """What the export holds: one row per result, its best passage's text, and where it is."""
    rows = []
    for position, (hit, passage) in enumerate(zip(hits, passages)):
        text = hit.text[passage.start:passage.end] if passage.end > passage.start else hit.text
        rows.append({"rank": position + 1, "score": round(hit.score, 6), "path": hit.path, "title": hit.title,
                     "start": hit.start, "end": hit.end, "passage": " ".join(text.split()),
                     "more_passages": len(documents[position].passages) if documents else 0})
    return rows


def export(hits, passages, documents, query: str, encoder: str) -> None:
    rows = result_rows(hits, passages, documents)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    c1, c2, _ = st.columns([1, 1, 4])
    c1.download_button("Download CSV", buffer.getvalue(), file_name="l2v-results.csv", mime="text/csv",
                       key="search_export_csv")
    c2.download_button("Download JSON", json.dumps({"query": query, "encoder": encoder, "results": rows}, indent=2),
                       file_name="l2v-results.json", mime="application/json", key="search_export_json")
