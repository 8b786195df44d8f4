"""Find the passage of a chunk that best matches the query, and render it as escaped HTML.

Lexical first (query terms, weighted by rarity inside the chunk) because it explains
itself to a reader; when no query word occurs, an optional semantic scorer (the
encoder) picks the passage instead. Everything from a document is HTML-escaped.

The semantic fallback is the expensive part of a results page (a forward pass per window):
``best_passages`` embeds at most ``SEMANTIC_BUDGET`` windows per page, of at most
``SEMANTIC_CHARS`` characters, in one call, choosing them by partial-word overlap first.
Header blocks (``PEP:`` / ``Title:`` / ``Author:`` lines) are metadata, never a passage.
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

TERM = re.compile(r"\w+", re.UNICODE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
# RFC 822-style header fields (PEP headers, e-mail): "Title: ...", "Post-History: ..."
FIELD_LINE = re.compile(r"[A-Z][A-Za-z0-9-]*:(?:[ \t]|$)")
# The page's encoder work is ~ SEMANTIC_BUDGET x SEMANTIC_CHARS characters (~240 tokens: well under 1 s for the
# 135M encoder on 2 cores). Shorter windows spread it over three unmatched hits, not two: a page of 7-10 documents
# often has three hits sharing no query word, and a hit left without a highlight reads as a bug.
SEMANTIC_BUDGET = 6     # windows embedded per results page, at most (two per unmatched hit, best-ranked first)
SEMANTIC_CHARS = 160    # characters of a window the encoder sees (its start decides; cost grows with length)
STEM = 5                # partial-word match: terms sharing their first STEM letters ("assigns" ~ "assignment")
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


def header_blocks(text: str) -> list[tuple[int, int]]:
    """Spans of header blocks: two or more consecutive ``Field: value`` lines (with indented continuations).

    PEPs and mails start with one; its words (title, authors) match queries but tell a reader nothing.
    """
    blocks, start, fields, pos = [], None, 0, 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if FIELD_LINE.match(body):
            start, fields = (pos, 0) if start is None else (start, fields)
            fields += 1
        elif not (start is not None and body[:1] in (" ", "\t") and body.strip()):   # not a continuation
            if start is not None and fields >= 2:
                blocks.append((start, pos))
            start = None
        pos += len(line)
    if start is not None and fields >= 2:
        blocks.append((start, pos))
    return blocks


def content_segments(text: str) -> list[tuple[int, int]]:
    """The text outside header blocks, as (start, end) spans."""
    out, at = [], 0
    for start, end in header_blocks(text):
        out.append((at, start))
        at = end
    out.append((at, len(text)))
    return [(s, e) for s, e in out if text[s:e].strip()]


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
    """Every run of up to ``window`` consecutive sentences, never crossing or touching a header block."""
    out = []
    for seg_start, seg_end in content_segments(text):
        spans = [(seg_start + s, seg_start + e) for s, e in sentences(text[seg_start:seg_end])]
        out += [(spans[i][0], spans[min(i + window, len(spans)) - 1][1]) for i in range(len(spans))]
    return out


def stems(text: str) -> set[str]:
    return {t[:STEM] for t in terms(text) if len(t) >= 3}


def candidate_windows(text: str, query: str, window: int = 2) -> list[tuple[int, int]]:
    """Non-overlapping windows, most partial-word overlap with the query first, then in text order."""
    windows = windows_of(text, window)[::max(1, window)]
    wanted = stems(query)
    overlap = [len(wanted & stems(text[s:e])) for s, e in windows]
    return [windows[i] for i in sorted(range(len(windows)), key=lambda i: (-overlap[i], i))]


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
        scores, how = [float(v) for v in semantic(query, [p[:SEMANTIC_CHARS] for p in pieces])], "semantic"
    best = max(range(len(windows)), key=lambda i: (scores[i], -(windows[i][1] - windows[i][0])))
    start, end = windows[best]
    return Passage(start, end, float(scores[best]), how)


def best_passages(texts: Sequence[str], query: str, window: int = 2,
                  semantic: Callable[[str, list[str]], list[float]] | None = None,
                  budget: int = SEMANTIC_BUDGET) -> list[Passage]:
    """``best_passage`` for the chunks of one page; the semantic fallback is bounded and batched.

    Chunks sharing no query word get up to ``budget`` candidate windows in all (best partial-word
    overlap first, higher-ranked chunks first, at least two per chunk: one candidate needs no
    encoder), embedded in ONE ``semantic`` call; chunks left without candidates stay unhighlighted.
    """
    out = [best_passage(t, query, window) for t in texts]
    todo = [i for i, p in enumerate(out) if p.how == "none" and texts[i].strip()]
    if semantic is None or not todo or budget < 2:
        return out
    per = max(2, budget // len(todo))
    chosen: dict[int, list[tuple[int, int]]] = {}
    for i in todo:
        room = budget - sum(map(len, chosen.values()))
        windows = candidate_windows(texts[i], query, window)[:min(per, room)]
        if len(windows) >= 2:
            chosen[i] = windows
    if not chosen:
        return out
    flat = [texts[i][s:e][:SEMANTIC_CHARS] for i, spans in chosen.items() for s, e in spans]
    scores, at = [float(v) for v in semantic(query, flat)], 0
    for i, spans in chosen.items():
        mine = scores[at:at + len(spans)]
        at += len(spans)
        best = max(range(len(mine)), key=lambda j: mine[j])
        out[i] = Passage(spans[best][0], spans[best][1], mine[best], "semantic")
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
