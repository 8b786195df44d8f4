"""Clusters page: k-means (or HDBSCAN) over all vectors, PCA/UMAP map of a sample, c-TF-IDF labels."""
from __future__ import annotations

import altair as alt
import streamlit as st

from .. import clustering as cl
from ..cluster_map import cluster_map, documents_by_id
from ..clusters_cache import ClusterCache
from . import common


@st.cache_resource(show_spinner=False)
def cache_for(db: str) -> ClusterCache:
    return ClusterCache(db)


def controls(names: list[str]) -> tuple[str, cl.ClusterParams]:
    c1, c2, c3, c4 = st.columns(4)
    name = c1.selectbox("Encoder", names, key="clusters_encoder")
    methods = ["k-means"] + (["HDBSCAN"] if cl.hdbscan_available() else [])
    method = c2.selectbox("Method", methods, key="clusters_method",
                          help="k-means assigns every chunk; HDBSCAN finds its own number of clusters (on a sample).")
    k = c3.slider("Clusters (k)", 2, 50, 8, key="clusters_k", disabled=method != "k-means")
    projections = ["PCA"] + (["UMAP"] if cl.umap_available() else [])
    projection = c4.selectbox("Map", projections, key="clusters_projection",
                              help="UMAP appears when the optional extra is installed: pip install 'l2v-search[umap]'.")
    params = cl.ClusterParams(method="kmeans" if method == "k-means" else "hdbscan", k=int(k),
                              projection=projection.lower())
    return name, params


def chart(cmap) -> alt.Chart:
    pick = alt.selection_point(fields=["cluster"], name="pick")
    return (alt.Chart(alt.Data(values=cmap.points())).mark_circle(size=28, opacity=0.75).add_params(pick)
            .encode(x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None),
                    color=alt.Color("cluster:N", legend=alt.Legend(title="cluster", orient="right", labelLimit=260)),
                    tooltip=[alt.Tooltip("title:N"), alt.Tooltip("path:N"), alt.Tooltip("cluster:N"),
                             alt.Tooltip("snippet:N")])
            .properties(height=520))


def clicked_cluster(event) -> int | None:
    """The cluster of a clicked point ('3: terms' -> 3, 'noise' -> -1), None when nothing is selected."""
    points = ((event or {}).get("selection") or {}).get("pick") or []
    if not points or "cluster" not in points[0]:
        return None
    label = str(points[0]["cluster"])
    return -1 if label == "noise" else int(label.split(":", 1)[0])


def picker_key(encoder: str, params: cl.ClusterParams) -> str:
    return f"clusters_pick_{encoder}_{params.key()}"


def render(idx, db: str) -> None:
    st.header("Clusters")
    names = common.encoder_names(idx)
    name, params = controls(names)
    bar = st.empty()

    def progress(fraction: float, text: str) -> None:
        bar.progress(min(1.0, fraction), text=text)

    with common.friendly():
        cmap = cluster_map(idx, name, params, cache_for(db), progress)
    bar.empty()
    sizes = cmap.sizes()
    how = "from cache" if cmap.cached else f"computed in {cmap.seconds:.1f} s"
    st.caption(f"{len(cmap.ids):,} chunks in {len([c for c in sizes if c >= 0])} clusters ({how}); "
               f"map shows {len(cmap.sample):,} sampled chunks, {params.projection.upper()} projection.")
    event = st.altair_chart(chart(cmap), width="stretch", on_select="rerun", key="clusters_chart")
    options = sorted(sizes, key=lambda c: (c < 0, c))
    clicked = clicked_cluster(event)
    pick = picker_key(name, params)   # one picker per clustering: its labels never outlive a method or k change
    if clicked in sizes and clicked != st.session_state.get("clusters_clicked"):
        st.session_state[pick] = clicked                    # a click on the map selects that cluster below
    st.session_state["clusters_clicked"] = clicked
    if st.session_state.get(pick) not in sizes:
        st.session_state.pop(pick, None)
    picked = st.selectbox("Cluster (or click a point on the map)", options, key=pick,
                          format_func=lambda c: f"{cmap.label(c)} ({sizes[c]:,} chunks)")
    terms = cmap.terms.get(picked, [])
    if terms:
        st.markdown("Most distinctive terms: " + ", ".join(f"`{t}`" for t in terms))
    docs = cmap.cluster_documents(picked)
    info = documents_by_id(idx, [d for d, _ in docs[:500]])
    st.dataframe([{"title": info.get(d, ("?", "?"))[0], "path": info.get(d, ("?", "?"))[1], "chunks in cluster": n}
                  for d, n in docs[:500]], hide_index=True, width="stretch")
    if len(docs) > 500:
        st.caption(f"First 500 of {len(docs):,} documents.")
