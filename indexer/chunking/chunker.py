"""Split a document into chunks of at most ``max_tokens`` of the encoder's own tokens.

Work happens in token space on one tokenization of the whole document: every
gap between two tokens gets a boundary score (paragraph > sentence > line >
word > inside a word), each chunk ends at the best-scoring gap in the second half
of its window, and the next one starts ``overlap`` tokens earlier, moved to the
best boundary there. Chunks keep exact character offsets into the text.

Memory and time per file are bounded: the text is tokenized in segments of at most
``SEGMENT_CHARS`` characters (cut at a paragraph, line or word break), so a
tokenizer never holds more than one segment's tokens, and boundary scoring is
linear in the segment. A text shorter than one segment (every ordinary document)
is chunked exactly as a whole; a longer one only loses the overlap across each
segment seam.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

from .tokenizers import ChunkTokenizer

PARAGRAPH, SENTENCE, LINE, WORD, NONE = 4.0, 3.0, 2.0, 1.0, 0.0
SENTENCE_END = ".!?。！？:;"
SEGMENT_CHARS = 1 << 18  # at most this many characters (hence tokens) are tokenized at once


@dataclass(frozen=True)
class ChunkingConfig:
    max_tokens: int = 400
    overlap: int = 64

    def __post_init__(self) -> None:
        from ..errors import UsageError

        if self.max_tokens < 8:
            raise UsageError(f"--chunk-tokens {self.max_tokens}: use at least 8 tokens")
        if not 0 <= self.overlap <= self.max_tokens // 2:
            raise UsageError(f"--overlap {self.overlap}: must be between 0 and half of --chunk-tokens "
                             f"({self.max_tokens // 2})")


@dataclass(frozen=True)
class TextChunk:
    start: int      # character offsets in the document text: text[start:end] == chunk text
    end: int
    n_tokens: int
    text: str


def boundary_scores(text: str, offsets: list[tuple[int, int]]) -> list[float]:
    """scores[i]: how good it is to cut right before token i (scores[0] unused).

    The gap before token i runs from the end of token i-1 to the first non-space at or after
    token i's start (tokenizers may put leading spaces inside the token). Inside a long run of
    whitespace every token's gap reaches the end of the same run, so the run's end is remembered
    and newlines are counted by bisecting their positions: linear time, where re-scanning the run
    for each token was quadratic (40k spaces took ~50 s).
    """
    newlines = [m.start() for m in re.finditer("\n", text)]
    scores = [PARAGRAPH]
    append, isspace, size = scores.append, str.isspace, len(text)
    run_start = run_end = -1  # text[run_start:run_end] is whitespace and text[run_end] is not
    prev_end = offsets[0][1] if offsets else 0
    for start, end in offsets[1:]:
        if not run_start <= start <= run_end:
            run_start = run_end = start
            while run_end < size and isspace(text[run_end]):
                run_end += 1
        if run_end <= prev_end:  # no gap: the tokens touch
            append(NONE)
        else:
            head = text[prev_end:start] if prev_end < start else ""  # text[start:run_end] is all whitespace
            n_newlines = bisect_left(newlines, run_end) - bisect_left(newlines, max(prev_end, start))
            if head:
                n_newlines += head.count("\n")
            blank = not head or isspace(head)
            if n_newlines >= 2:
                append(PARAGRAPH)
            elif prev_end and blank and text[prev_end - 1] in SENTENCE_END:
                append(SENTENCE)
            elif n_newlines:
                append(LINE)
            else:
                append(WORD if blank else NONE)
        prev_end = end
    return scores


def segments(text: str, size: int = SEGMENT_CHARS) -> Iterator[tuple[int, int]]:
    """``(start, end)`` ranges covering ``text``, each at most ``size`` characters, cut at the last
    paragraph break, else line break, else space in the second half of the window (hard cut if none)."""
    start = 0
    while len(text) - start > size:
        low, high = start + size // 2, start + size
        cut = text.rfind("\n\n", low, high)
        if cut < 0:
            cut = text.rfind("\n", low, high)
        if cut < 0:
            cut = max(text.rfind(" ", low, high), text.rfind("\t", low, high))
        if cut <= start:
            cut = high
        yield start, cut
        start = cut
    yield start, len(text)


def _best_cut(scores: list[float], low: int, high: int) -> int:
    """The latest index in [low, high] with the highest score."""
    best = high
    for i in range(high, low - 1, -1):
        if scores[i] > scores[best]:
            best = i
    return best


def chunk_text(text: str, tokenizer: ChunkTokenizer, config: ChunkingConfig) -> list[TextChunk]:
    """Chunks of ``text`` with offsets into it; segment by segment (see the module docstring)."""
    chunks: list[TextChunk] = []
    for start, end in segments(text):
        part = text[start:end] if (start, end) != (0, len(text)) else text
        chunks.extend(TextChunk(c.start + start, c.end + start, c.n_tokens, c.text)
                      for c in _chunk_segment(part, tokenizer, config))
    return chunks


def _chunk_segment(text: str, tokenizer: ChunkTokenizer, config: ChunkingConfig) -> list[TextChunk]:
    offsets = [o for o in tokenizer.offsets(text) if o[1] > o[0]]
    n = len(offsets)
    if n == 0:
        return []
    scores = boundary_scores(text, offsets)
    chunks: list[TextChunk] = []
    start = 0
    while start < n:
        if start + config.max_tokens >= n:
            end = n
        else:
            end = _best_cut(scores, start + max(1, config.max_tokens // 2), start + config.max_tokens)
        chunks.append(_make(text, offsets, start, end))
        if end >= n:
            break
        next_start = end
        if config.overlap:
            low = max(start + 1, end - config.overlap)
            next_start = _best_cut(scores, low, end - 1) if end - 1 >= low else end
            if scores[next_start] < scores[low]:
                next_start = low
        start = next_start
    return chunks


def _make(text: str, offsets: list[tuple[int, int]], first: int, end: int) -> TextChunk:
    a, b = offsets[first][0], offsets[end - 1][1]
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return TextChunk(start=a, end=b, n_tokens=end - first, text=text[a:b])
