"""Compare page: 2-4 encoders, one query, ranked lists in columns, shared hits marked, agreement metrics."""
from __future__ import annotations

import time

import streamlit as st

from indexer import DEFAULT_HYBRID, blank_query

from .. import url_state
from ..compare import agreements, rank_badges, rank_table
from . import common
from ..highlight import SEMANTIC_BUDGET
from ..passages import page_passages
from .search import BLANK_HINT, hit_html


PAGE = "compare"
PARAMS = ["cq", "cenc", "ck", "chy"]


def url_fields(names: list[str]) -> list[url_state.Field]:
    return [url_state.Field("cq", "compare_query", str, ""),
            url_state.Field("cenc", "compare_encoders", list, names[:min(4, len(names))]),
            url_state.Field("ck", "compare_k", int, 10), url_state.Field("chy", "compare_hybrid", bool, DEFAULT_HYBRID)]


def render(idx, db: str) -> None:
    st.header("Compare encoders")
    names = common.encoder_names(idx)
    if len(names) < 2:
        st.info(f"Only one encoder ('{names[0]}') is indexed in this database. Add another with "
                "`l2v index FOLDER --db DB --encoder OTHER_DIR --name OTHER` to compare.")
        return
    fields = url_fields(names)
    url_state.restore(st, fields, url_state.url_changed(st, PAGE, PARAMS))
    # a stale or hand-edited link may name encoders this database lacks: keep only those it has
    st.session_state["compare_encoders"] = [n for n in st.session_state.get("compare_encoders", []) if n in names][:4]
    if not 1 <= int(st.session_state.get("compare_k", 10)) <= 50:
        st.session_state["compare_k"] = 10
    chosen = st.multiselect("Encoders (2-4)", names, max_selections=4, key="compare_encoders")
    query = st.text_input("Query for all encoders", key="compare_query", placeholder="One query, every encoder")
    c1, c2 = st.columns(2)
    k = int(c1.number_input("Results (k)", 1, 50, key="compare_k"))
    hybrid = c2.toggle("Hybrid (dense + BM25)", key="compare_hybrid",
                       help="Each encoder's ranking fused with BM25 at its recorded dense weight, as on the Search "
                            "page (on by default everywhere); off: the encoders alone.")
    st.caption("Each encoder uses its own saved query instruction.")
    url_state.publish(st, PAGE, fields, PARAMS)          # a comparison is a link too
    if len(chosen) < 2:
        st.info("Pick at least two encoders.")
        return
    if not query.strip():
        st.info("Type a query and press Enter to see the encoders' rankings side by side.")
        return
    if blank_query(query):
        st.info(BLANK_HINT)
        return
    results, latency = {}, {}
    with common.friendly():
        for name in chosen:
            common.embedder(idx, name)   # model loading is not part of the latency
            start = time.perf_counter()
            results[name] = idx.search(query, encoder=name, k=k, hybrid=hybrid)
            latency[name] = (time.perf_counter() - start) * 1000
    rankings = {name: [h.chunk_id for h in hits] for name, hits in results.items()}
    marks = rank_badges(rankings, k)
    rows = [{"encoders": f"{p.a} vs {p.b}", f"overlap@{k}": round(p.overlap, 3), "shared": p.shared,
             "Spearman (union)": None if p.spearman is None else round(p.spearman, 3),
             "Kendall (shared)": None if p.kendall is None else round(p.kendall, 3)}
            for p in agreements(rankings, k)]
    st.subheader("Agreement")
    st.dataframe(rows, hide_index=True, width="stretch")
    differences(results, rankings, k)
    columns = st.columns(len(chosen))
    budget = SEMANTIC_BUDGET // len(chosen)          # the page's encoder work, shared by its columns
    passages = {name: page_passages([h.text for h in hits], query, common.embedder(idx, name), None,
                                    common.passage_cache(), budget=budget)
                for name, hits in results.items()}
    for column, name in zip(columns, chosen):
        with column:
            st.markdown(f"**{name}**")
            st.caption(f"{latency[name]:.1f} ms · {len(results[name])} hits")
            if not results[name]:
                st.warning("No hits.")
            for hit, passage in zip(results[name], passages[name]):
                st.html(hit_html(hit, query, shared=marks[name].get(hit.chunk_id), passage=passage))


def differences(results, rankings, k: int) -> None:
    """Where the rankings differ: each hit's rank under every encoder, disagreements first."""
    hits = {h.chunk_id: h for found in results.values() for h in found}
    table = [{"passage": f"{hits[r['item']].title} · {hits[r['item']].path} [{hits[r['item']].start}:]",
              **{name: "" if r[name] is None else str(r[name]) for name in rankings}, "spread": r["spread"]}
             for r in rank_table(rankings, k)]           # "": absent, an empty cell (None would print "None")
    st.subheader("Where the rankings differ")
    st.caption(f"Each hit's rank under every encoder (empty: not in its top {k}); largest disagreement first.")
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"spread": st.column_config.ProgressColumn("spread", min_value=0, max_value=k,
                                                                          format="%d")})
