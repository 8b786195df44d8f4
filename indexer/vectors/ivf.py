"""IVF indexes that store their own ids, and the older layout they replace.

An ``IndexIDMap2`` around an IVF maps FAISS positions to chunk ids, but removal compacts
that map while the IVF lists keep the positions they were added at: after any update that
removed vectors, hits came back labelled with other chunks' ids (recall 0 against Flat).
So an IVF gets ``add_with_ids``/``remove_ids`` itself, with a hashtable direct map for
``reconstruct``; files of the old layout are converted on load when still correct.
"""
from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from ..errors import FaissFileError


def wrap_ids(inner: faiss.Index) -> faiss.Index:
    """The index ids go into: the IVF itself (with a hashtable direct map), else an ``IndexIDMap2``."""
    ivf = faiss.try_extract_index_ivf(inner)
    if ivf is None:
        return faiss.IndexIDMap2(inner)
    if ivf.direct_map.type != faiss.DirectMap.Hashtable:
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
    return inner


def list_ids(ivf: faiss.IndexIVF) -> list[np.ndarray]:
    """Writable views of the ids stored in each inverted list (empty lists included)."""
    lists = ivf.invlists
    return [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)) if lists.list_size(i)
            else np.zeros(0, np.int64) for i in range(ivf.nlist)]


def unwrap_legacy(index: faiss.IndexIDMap2, path: Path) -> faiss.Index:
    """An ``IndexIDMap2`` around an IVF (files written before IVF stored its own ids) -> the IVF with real ids.

    That layout is only correct while the IVF's internal ids are exactly 0..n-1 (no removal, or
    removals of the newest vectors only); any other removal mislabelled vectors for good.
    """
    inner = faiss.clone_index(faiss.downcast_index(index.index))
    ivf = faiss.try_extract_index_ivf(inner)
    id_map = faiss.vector_to_array(index.id_map).astype(np.int64)
    views = list_ids(ivf)
    internal = np.concatenate(views) if views else np.zeros(0, np.int64)
    if len(internal) != len(id_map) or not np.array_equal(np.sort(internal), np.arange(len(id_map))):
        raise FaissFileError(f"{path.name} mislabels vectors: its IVF lists no longer match its ids (an update "
                             "removed vectors before l2v fixed IVF removals)")
    for view in views:
        view[:] = id_map[view]
    return wrap_ids(inner)
