"""Streamlit entry script: ``streamlit run search_ui/app.py -- --db my.l2v`` (what ``l2v ui`` runs).

Navigation is a sidebar radio mirrored in ``?page=`` so a page can be linked; each page
module renders against the one cached ``Index`` of the database.
"""
from __future__ import annotations

import sys

import streamlit as st

from indexer import L2VError
from search_ui.settings import db_path, report_path, root_path
from search_ui.views import clusters, common, compare, index_info, search

PAGES = {"Search": "search", "Compare": "compare", "Clusters": "clusters", "Index": "index"}


def main() -> None:
    st.set_page_config(page_title="L2V Search", page_icon="🔎", layout="wide")
    st.html(common.CSS)
    db = db_path(sys.argv[1:])
    st.sidebar.title("L2V Search")
    if db is None:
        st.error("No database given. Start the app with `l2v ui DB` (a directory built by `l2v index`).")
        st.stop()
    if not (db / "metadata.sqlite").is_file():
        st.error(f"'{db}' is not an l2v database (no metadata.sqlite). Build one with `l2v index FOLDER --db {db}`.")
        st.stop()
    with common.friendly():
        idx = common.current_index(str(db.resolve()))
    wanted = st.query_params.get("page", "search")
    labels = list(PAGES)
    default = next((i for i, label in enumerate(labels) if PAGES[label] == wanted), 0)
    page = st.sidebar.radio("Page", labels, index=default, key="page")
    st.query_params["page"] = PAGES[page]
    st.sidebar.caption(f"Database: `{db}`")
    root = root_path(sys.argv[1:])
    st.sidebar.caption(f"Documents read from: `{root}`" if root else "Documents: stored chunks only (no --root)")
    if page == "Search":
        search.render(idx, str(idx.path))
    elif page == "Compare":
        compare.render(idx, str(idx.path))
    elif page == "Clusters":
        clusters.render(idx, str(idx.path))
    else:
        index_info.render(idx, str(idx.path), report_path(sys.argv[1:], db))


try:
    main()
except L2VError as err:
    st.error(str(err))

