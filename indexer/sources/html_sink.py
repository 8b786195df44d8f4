"""What the indexer keeps of an HTML page, fed by ``html_text.HTMLText``'s events.

Separate from the tokenizer because it is the policy (which elements are text, which are the title,
where blocks break), while the tokenizer is the grammar with its linear-time bounds; the sink has the
``html.parser.HTMLParser`` handler interface, so either can drive it (the tests compare both).
"""
from __future__ import annotations

import re

_SPACES = re.compile(r" {2,}")
_NEWLINE_RUN = re.compile(r"\n\s*")


class _Pieces:
    """Appended strings, joined every ``BATCH`` appends: a page with a tag every few bytes would otherwise
    keep one small string object (~60 bytes) per piece until the end."""

    BATCH = 4096

    def __init__(self) -> None:
        self.done: list[str] = []
        self.pending: list[str] = []

    def append(self, piece: str) -> None:
        self.pending.append(piece)
        if len(self.pending) >= self.BATCH:
            self.done.append("".join(self.pending))
            self.pending.clear()

    def __bool__(self) -> bool:
        return bool(self.done or self.pending)

    def text(self) -> str:
        return "".join(self.done) + "".join(self.pending)


class TextSink:
    """What the indexer keeps of a page: text outside script/style, the <title> (else the first <h1>)."""

    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "pre", "table"}

    def __init__(self) -> None:
        self.parts, self.title, self.heading = _Pieces(), _Pieces(), _Pieces()
        self._skip = 0
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "noscript", "template"):
            self._skip += 1
        if tag in ("title", "h1"):
            self._in = tag
        if tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "noscript", "template"):
            self._skip = max(0, self._skip - 1)
        if tag == self._in:
            self._in = None
        if tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_data(self, data):
        if self._skip:
            return
        if self._in == "title":
            self.title.append(data)
            return
        if self._in == "h1":
            self.heading.append(data)
        self.parts.append(data)

    def result(self) -> tuple[str, str]:
        return blank_lines(_SPACES.sub(" ", self.parts.text().replace("\t", " "))).strip(), " ".join(
            (self.title or self.heading).text().split())


def blank_lines(text: str) -> str:
    """Every whitespace run holding two or more newlines becomes one blank line ("\\n\\n").

    What ``re.sub(r"\\s*\\n\\s*\\n\\s*", "\\n\\n", text)`` does, without its backtracking: that pattern
    rescans a long run of whitespace from every position in it (quadratic on, say, 100,000 U+3000).
    Here each run is found once from its first newline and extended back over the spaces before it.
    """
    out, last = [], 0
    for match in _NEWLINE_RUN.finditer(text):
        if match.group().count("\n") < 2:
            continue
        start = match.start()
        while start > last and text[start - 1].isspace():
            start -= 1
        out += (text[last:start], "\n\n")
        last = match.end()
    out.append(text[last:])
    return "".join(out)
