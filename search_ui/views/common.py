"""Process-wide resources (the Index and its encoders, via ``st.cache_resource``) and friendly errors."""
from __future__ import annotations

import html
from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from indexer import L2VError

CSS = """
<style>
.l2v-hit {border: 1px solid rgba(128,128,128,.3); border-radius: .5rem; padding: .6rem .8rem; margin: .2rem 0;}
.l2v-hit .l2v-head {font-weight: 600;}
.l2v-hit .l2v-meta {color: #888; font-size: .85rem; margin: .1rem 0 .4rem 0;}
.l2v-hit .l2v-text {white-space: pre-wrap; font-size: .9rem; max-height: 18rem; overflow-y: auto;}
mark.l2v-passage {background: #fff3a8; color: inherit; padding: 0 .1rem;}
.l2v-shared {display: inline-block; background: #d7ecff; color: #034; border-radius: .3rem; padding: 0 .3rem;
  font-size: .75rem; margin-left: .3rem;}
.l2v-more {white-space: pre-wrap; font-size: .85rem; border-left: 3px solid rgba(128,128,128,.35);
  padding: .2rem .6rem; margin: .3rem 0;}
.l2v-rank-up {color: #0a7c2f;} .l2v-rank-down {color: #b3261e;}
.l2v-context {white-space: pre-wrap; font-size: .85rem; color: #666;}
.l2v-context mark {background: #fff3a8; color: #111;}
</style>
"""


@st.cache_resource(show_spinner=False)
def open_index(db: str):
    """One ``Index`` per database per server process (it keeps FAISS stores and encoders loaded)."""
    from indexer import Index

    return Index.open(db)


def current_index(db: str):
    """The cached ``Index``, reopened (encoders too) when the database was rebuilt under the server."""
    idx = open_index(db)
    if idx.replaced():
        idx.close()
        open_index.clear()
        load_embedder.clear()
        idx = open_index(db)
    return idx


@st.cache_resource(show_spinner="Loading encoder…")
def load_embedder(db: str, name: str, fingerprint: str):
    """Load an encoder once per process; the fingerprint in the key reloads it when the index changes encoder."""
    return open_index(db).embedder(name)


@st.cache_resource(show_spinner=False)
def passage_cache():
    """Highlighted passages chosen so far, shared by every session: a rerun of a page embeds nothing."""
    from ..passages import PassageCache

    return PassageCache()


def embedder(idx, name: str):
    info = next((e for e in idx.encoders() if e.name == name), None)
    if info is None:
        from .. errors import UIError

        raise UIError(f"no encoder '{name}' in this database")
    return load_embedder(str(idx.path), name, info.fingerprint)


@contextmanager
def friendly() -> Iterator[None]:
    """User mistakes and index problems (L2VError) become one st.error line, never a traceback."""
    try:
        yield
    except L2VError as err:
        st.error(str(err))
        st.stop()


def esc(text: object) -> str:
    return html.escape(str(text))


def encoder_names(idx) -> list[str]:
    names = [e.name for e in idx.encoders() if e.n_vectors > 0]
    if not names:
        st.info("This database has no indexed encoder yet. Index a folder first: "
                "`l2v index FOLDER --db DB --encoder ENCODER_DIR`.")
        st.stop()
    return names
