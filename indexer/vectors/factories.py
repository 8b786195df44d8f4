"""The FAISS factory strings l2v accepts, checked before anything is written.

``faiss.index_factory`` parses strings that cannot work here: ``HNSW0`` (and ``HNSW1``) kill the
process on the first add (a C++ assertion: exit 134, no message) and every later run on the database
with it; ``IVF0,Flat`` stores nothing and every search raises; a pre-transform such as ``PCA32,Flat``
changes what is stored, so the exact fallback and the consistency check see other vectors than the
ones indexed; a PQ or SQ without IVF refuses the search parameters filters need. So the accepted strings are a small grammar with bounds (sizes that would allocate
gigabytes before the first vector are refused too), and FAISS must build the result at the encoder's
dimension (a PQ's sub-quantizers must divide it).
"""
from __future__ import annotations

import re

import faiss

from ..errors import UsageError

ACCEPTED = "Flat, HNSW<M> (M 2-256), IVF<N>,Flat | IVF<N>,SQ8 | IVF<N>,PQ<m>[x<b>] (N 1-262144, m dividing the " \
           "dimension, b 1-16)"
_GRAMMAR = re.compile(r"Flat|HNSW(?P<M>\d+)|IVF(?P<N>\d+),(?:Flat|SQ8|PQ(?P<m>\d+)(?:x(?P<b>\d+))?)")
_BOUNDS = {"M": (2, 256, "HNSW's M (links per vector)"), "N": (1, 262144, "IVF's N (inverted lists)"),
           "m": (1, 65536, "PQ's m (sub-quantizers)"), "b": (1, 16, "PQ's b (bits per code)")}


def normalize_factory(factory: str) -> str:
    """'Flat', 'IDMap2,Flat', 'IVF1024,Flat', 'HNSW32', 'IVF256,PQ16' -> the part inside the id map."""
    factory = factory.strip()
    for prefix in ("IDMap2,", "IDMap,"):
        if factory.startswith(prefix):
            factory = factory[len(prefix):]
    return factory or "Flat"


def factory_problem(factory: str, dim: int | None = None) -> str | None:
    """Why ``factory`` cannot work (at ``dim``, when given), or None when it can."""
    if not isinstance(factory, str):
        return f"not a string ({type(factory).__name__})"
    inner = normalize_factory(factory)
    found = _GRAMMAR.fullmatch(inner)
    if found is None:
        return "not a form l2v accepts"
    for key, value in found.groupdict().items():
        if value is not None:
            low, high, what = _BOUNDS[key]
            if not low <= int(value) <= high:
                return f"{what} must be {low}-{high}, got {int(value)}"
    if dim is not None:
        try:
            faiss.index_factory(int(dim), inner, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as err:
            return f"FAISS cannot build it at dimension {dim}: {faiss_reason(err)}"
    return None


def faiss_reason(err: BaseException, limit: int = 200) -> str:
    """The message of a FAISS error without its C++ location ('Error in <function> at <file>:<line>: ')."""
    text = str(err).strip()
    found = re.search(r" at \S+:\d+: (?:Error: )?(.*)", text, re.S)
    return " ".join((found.group(1) if found else text).split())[:limit]


def check_factory(factory: str, dim: int | None = None) -> str:
    """``--faiss`` as given by a user: the normalized string, or a one-line ``UsageError``."""
    problem = factory_problem(factory, dim)
    if problem is not None:
        raise UsageError(f"--faiss '{factory}' is not a valid FAISS factory string here ({problem}); "
                         f"accepted: {ACCEPTED}")
    return normalize_factory(factory)
