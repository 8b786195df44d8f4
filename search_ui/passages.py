"""The highlighted passage of every hit on a results page: bounded encoder work, cached per (query, chunk).

``highlight`` is pure text; this is the page's policy on top of it. The semantic fallback runs the
encoder, which costs a forward pass per window, so a page asks ``best_passages`` for at most
``SEMANTIC_BUDGET`` windows in one batched call, and a process-wide cache keyed by (encoder,
instruction, query, chunk text) makes every rerun of the same page (an expander opened, a download
clicked, Back in the browser) embed nothing.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Callable, Sequence

from .highlight import SEMANTIC_BUDGET, Passage, best_passages

Key = tuple[str, str | None, str, str]


class PassageCache:
    """A thread-safe LRU of chosen passages (Streamlit serves every session from one process)."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._items: OrderedDict[Key, Passage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Passage | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: Key, passage: Passage) -> None:
        with self._lock:
            self._items[key] = passage
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def semantic_scorer(embedder, instruction: str | None) -> Callable[[str, list[str]], list[float]]:
    """Cosine of each passage with the query, by the encoder that ranked the hits (one batched call)."""
    def score(query: str, pieces: list[str]) -> list[float]:
        q = embedder.encode_queries([query], instruction=instruction)[0]
        return (embedder.encode_documents(pieces) @ q).tolist()

    return score


def page_passages(texts: Sequence[str], query: str, embedder, instruction: str | None, cache: PassageCache,
                  budget: int = SEMANTIC_BUDGET) -> list[Passage]:
    """The best passage of each chunk text; only chunks not in ``cache`` are looked at (one encoder call at most)."""
    scope = str(getattr(embedder, "fingerprint", id(embedder)))
    keys = [(scope, instruction, query, hashlib.sha1(t.encode("utf-8", "replace")).hexdigest()) for t in texts]
    found = [cache.get(key) for key in keys]
    missing = [i for i, passage in enumerate(found) if passage is None]
    if missing:
        fresh = best_passages([texts[i] for i in missing], query, semantic=semantic_scorer(embedder, instruction),
                              budget=budget)
        for i, passage in zip(missing, fresh):
            cache.put(keys[i], passage)
            found[i] = passage
    return [p for p in found if p is not None]
