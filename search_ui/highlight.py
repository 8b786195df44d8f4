"""Find the passage of a chunk that best matches the query, and render it as escaped HTML.

Lexical first (query terms, weighted by rarity inside the chunk) because it explains
itself to a reader; when no query word occurs, an optional semantic scorer (the
encoder) picks the passage instead. Everything from a document is HTML-escaped.
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

TERM = re.compile(r"\w+", re.UNICODE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
STOP = frozenset("a an and are as at be by for from has have in is it its of on or that the this to was were "
                 "what which who will with how why when where does do did".split())


@dataclass(frozen=True)
class Passage:
    start: int      # character offsets inside the chunk text
    end: int
    score: float
    how: str        # "lexical" | "semantic" | "none"


def terms(text: str) -> list[str]:
    return [t for t in TERM.findall(text.lower()) if t not in STOP]


def sentences(text: str, max_chars: int = 400) -> list[tuple[int, int]]:
    """Sentence spans (start, end) covering the text; long sentences are cut into ``max_chars`` windows."""
    spans, start = [], 0
    for match in SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while e - s > max_chars:
            cut = text.rfind(" ", s, s + max_chars)
            cut = cut if cut > s else s + max_chars
            out.append((s, cut))
            s = cut
        if text[s:e].strip():
            out.append((s, e))
    return out or [(0, len(text))]


def lexical_scores(query: str, spans: Sequence[str]) -> list[float]:
    """Sum over distinct query terms present in a span of idf-like weights (rarer in the chunk = higher)."""
    wanted = set(terms(query))
    if not wanted:
        return [0.0] * len(spans)
    bags = [set(terms(s)) for s in spans]
    df = {t: sum(t in b for b in bags) for t in wanted}
    n = len(spans)
    return [sum(math.log(1 + n / df[t]) for t in wanted & bag) for bag in bags]


def windows_of(text: str, window: int = 2) -> list[tuple[int, int]]:
    spans = sentences(text)
    return [(spans[i][0], spans[min(i + window, len(spans)) - 1][1]) for i in range(len(spans))]


def best_passage(text: str, query: str, window: int = 2,
                 semantic: Callable[[str, list[str]], list[float]] | None = None) -> Passage:
    """The run of up to ``window`` consecutive sentences that best matches ``query``."""
    windows = windows_of(text, window)
    pieces = [text[s:e] for s, e in windows]
    scores = lexical_scores(query, pieces)
    how = "lexical"
    if max(scores, default=0.0) <= 0.0:
        if semantic is None or not pieces:
            return Passage(0, 0, 0.0, "none")
        scores, how = [float(v) for v in semantic(query, pieces)], "semantic"
    best = max(range(len(windows)), key=lambda i: (scores[i], -(windows[i][1] - windows[i][0])))
    start, end = windows[best]
    return Passage(start, end, float(scores[best]), how)


def best_passages(texts: Sequence[str], query: str, window: int = 2,
                  semantic: Callable[[str, list[str]], list[float]] | None = None) -> list[Passage]:
    """``best_passage`` for many chunks; the semantic fallback embeds all unmatched windows in one call."""
    out = [best_passage(t, query, window) for t in texts]
    todo = [i for i, p in enumerate(out) if p.how == "none" and texts[i].strip()]
    if semantic is None or not todo:
        return out
    spans = {i: windows_of(texts[i], window) for i in todo}
    flat = [texts[i][s:e] for i in todo for s, e in spans[i]]
    scores, at = [float(v) for v in semantic(query, flat)], 0
    for i in todo:
        mine = scores[at:at + len(spans[i])]
        at += len(spans[i])
        best = max(range(len(mine)), key=lambda j: mine[j])
        out[i] = Passage(spans[i][best][0], spans[i][best][1], mine[best], "semantic")
    return out


def highlight_html(text: str, passage: Passage, query: str = "") -> str:
    """Escaped HTML of ``text``: the passage in <mark>, query words inside it in <b>."""
    def words(piece: str) -> str:
        wanted = set(terms(query))
        if not wanted:
            return html.escape(piece)
        out, last = [], 0
        for m in TERM.finditer(piece):
            if m.group(0).lower() in wanted:
                out += [html.escape(piece[last:m.start()]), "<b>", html.escape(m.group(0)), "</b>"]
                last = m.end()
        return "".join(out + [html.escape(piece[last:])])

    if passage.end <= passage.start:
        return html.escape(text)
    return (html.escape(text[:passage.start]) + '<mark class="l2v-passage">' + words(text[passage.start:passage.end])
            + "</mark>" + html.escape(text[passage.end:]))
