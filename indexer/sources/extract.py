"""Bytes of one file -> (text, title), or ``Skip`` with a reason the status table shows.

Formats: plain text and source code, Markdown, reStructuredText, HTML (text only),
PDF (pypdf), DOCX (python-docx). Anything else is indexed as text if it decodes.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath

from .titles import sphinx_markup

BINARY_SNIFF = 8192
# Bump whenever a file's extracted text may change: files skipped by an older extractor are retried.
EXTRACTOR_VERSION = 2  # 2: mostly-UTF-8 text with a few invalid bytes decodes as UTF-8 (was cp1252)


class Skip(Exception):
    """A file that cannot become text; ``reason`` is one word for the skipped table."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass
class Extracted:
    text: str
    title: str


def extract(path: str, data: bytes) -> Extracted:
    """``path`` is only used for the extension and the fallback title."""
    suffix = PurePosixPath(path).suffix.lower()
    if not data:
        raise Skip("empty", "0 bytes")
    if suffix == ".pdf":
        text, title = _pdf(data)
    elif suffix == ".docx":
        text, title = _docx(data)
    else:
        text = _decode(data)
        title = ""
        if suffix in (".html", ".htm", ".xhtml"):
            text, title = _html(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not text.strip():
        raise Skip("empty", "no text")
    return Extracted(text=text, title=(title or first_heading(text, suffix) or PurePosixPath(path).name).strip()[:300])


def _decode(data: bytes) -> str:
    head = data[:BINARY_SNIFF]
    if b"\x00" in head and not (head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff")):
        raise Skip("binary", "contains NUL bytes")
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as err:
            last = err
    lenient = data.decode("utf-8", errors="replace")
    if _mostly_utf8(lenient):
        return lenient.removeprefix("\ufeff")
    # latin-1 decodes anything; accept it only when the text looks like text
    text = data.decode("cp1252", errors="strict") if _mostly_text(data) else None
    if text is None:
        raise Skip("undecodable", f"not UTF-8 ({last.reason} at byte {last.start})")
    return text


def _mostly_utf8(lenient: str) -> bool:
    """More non-ASCII characters decoded validly than failed: a UTF-8 text with a few stray bytes.

    Decoding it as cp1252 would garble every valid multi-byte character (titles included) to
    save one; a legacy 8-bit text, where nothing non-ASCII is valid UTF-8, stays cp1252.
    """
    bad = lenient.count("\ufffd")
    valid = len(lenient) - len(lenient.encode("ascii", "ignore")) - bad
    return valid > bad


def _mostly_text(data: bytes) -> bool:
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    controls = sum(1 for b in data[:BINARY_SNIFF] if b < 32 and b not in (9, 10, 12, 13))
    high = sum(1 for b in data[:BINARY_SNIFF] if b >= 128)
    sample = min(len(data), BINARY_SNIFF)
    return controls == 0 and high <= 0.3 * sample


def _pdf(data: bytes) -> tuple[str, str]:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else "") or ""
    except Exception as err:  # pypdf raises many types on malformed files
        raise Skip("corrupt", f"PDF: {type(err).__name__}: {str(err)[:120]}") from None
    return "\n\n".join(p.strip() for p in pages), str(title)


def _docx(data: bytes) -> tuple[str, str]:
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
    except Exception as err:
        raise Skip("corrupt", f"DOCX: {type(err).__name__}: {str(err)[:120]}") from None
    paragraphs = [p.text for p in document.paragraphs]
    title = next((p.text for p in document.paragraphs if p.style is not None and p.style.name.startswith(("Title", "Heading")) and p.text.strip()), "")
    return "\n\n".join(paragraphs), title or (document.core_properties.title or "")


class _HTMLText(HTMLParser):
    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "pre", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.heading: list[str] = []
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

    def handle_data(self, data):
        if self._skip:
            return
        if self._in == "title":
            self.title.append(data)
            return
        if self._in == "h1":
            self.heading.append(data)
        self.parts.append(data)


def _html(source: str) -> tuple[str, str]:
    parser = _HTMLText()
    parser.feed(source)
    parser.close()
    text = re.sub(r"[ \t]+", " ", "".join(parser.parts))
    text = re.sub(r"\s*\n\s*\n\s*", "\n\n", text).strip()
    return text, " ".join("".join(parser.title or parser.heading).split())


_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_RST_UNDERLINE = re.compile(r"^([^\n]*\S[^\n]*)\n([=\-~^\"'`#*+]{3,})\s*$", re.M)
_RST_FIELD_TITLE = re.compile(r"^Title:\s*(.+)$", re.M)  # PEP-style header


def first_heading(text: str, suffix: str) -> str:
    head = text[:20000]
    if suffix in (".md", ".markdown"):
        match = _MD_HEADING.search(head)
        return plain_title(match.group(1)) if match else ""
    if suffix in (".rst", ".txt"):
        field = _RST_FIELD_TITLE.search(head[:3000])
        if field:
            return plain_title(field.group(1))
        for match in _RST_UNDERLINE.finditer(head):
            if len(match.group(2).strip()) >= len(match.group(1).strip()) and set(match.group(1).strip()) - set("=-~^\"'`#*+"):
                return plain_title(match.group(1))
    return ""


_ROLE = re.compile(r":[\w.+-]+:`([^`<]*?)(?:\s*<[^>]*>)?`")           # :mod:`unittest.mock`, :ref:`text <target>`
_LINK = re.compile(r"`([^`<]+?)\s*<[^>]*>`_{1,2}|\[([^\]]+)\]\([^)]*\)")  # `text <url>`_, [text](url)
_LITERAL = re.compile(r"``([^`]+)``|`([^`]+)`_{0,2}|\*\*(\S(?:[^*]*\S)?)\*\*|(?<![\w*])\*(\S(?:[^*]*\S)?)\*(?![\w*])")


def plain_title(title: str) -> str:
    """A heading as a reader sees it: reST roles, links, literals and emphasis reduced to their text.

    ":mod:`unittest.mock` --- mock object library" -> "unittest.mock — mock object library".
    """
    title = _ROLE.sub(lambda m: m.group(1), sphinx_markup(title))
    title = _LINK.sub(lambda m: m.group(1) or m.group(2), title)
    title = _LITERAL.sub(lambda m: next(g for g in m.groups() if g is not None), title)
    title = re.sub(r"\s+---\s+", " — ", title)
    return " ".join(title.split())
