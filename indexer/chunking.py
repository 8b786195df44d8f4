"""Split a document into chunks of at most ``max_tokens`` of the encoder's own tokens.

Work happens in token space on one tokenization of the whole document: every
gap between two tokens gets a boundary score (paragraph > sentence > line >
word > inside a word), each chunk ends at the best-scoring gap in the second half
of its window, and the next one starts ``overlap`` tokens earlier, moved to the
best boundary there. Chunks keep exact character offsets into the text.
"""
from __future__ import annotations

from dataclasses import dataclass

from .embedder import ChunkTokenizer

PARAGRAPH, SENTENCE, LINE, WORD, NONE = 4.0, 3.0, 2.0, 1.0, 0.0
SENTENCE_END = ".!?。！？:;"


@dataclass(frozen=True)
class ChunkingConfig:
    max_tokens: int = 400
    overlap: int = 64

    def __post_init__(self) -> None:
        from .errors import UsageError

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
    """scores[i]: how good it is to cut right before token i (scores[0] unused)."""
    scores = [PARAGRAPH]
    for i in range(1, len(offsets)):
        prev_end, start = offsets[i - 1][1], offsets[i][0]
        gap_end = start
        while gap_end < len(text) and text[gap_end].isspace():  # tokenizers that put the space in the token
            gap_end += 1
        gap = text[prev_end:gap_end]
        if not gap:
            scores.append(NONE)
        elif gap.count("\n") >= 2:
            scores.append(PARAGRAPH)
        elif prev_end and text[prev_end - 1] in SENTENCE_END and gap.isspace():
            scores.append(SENTENCE)
        elif "\n" in gap:
            scores.append(LINE)
        elif gap.isspace():
            scores.append(WORD)
        else:
            scores.append(NONE)
    return scores


def _best_cut(scores: list[float], low: int, high: int) -> int:
    """The latest index in [low, high] with the highest score."""
    best = high
    for i in range(high, low - 1, -1):
        if scores[i] > scores[best]:
            best = i
    return best


def chunk_text(text: str, tokenizer: ChunkTokenizer, config: ChunkingConfig) -> list[TextChunk]:
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
