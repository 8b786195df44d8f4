"""Bytes of one file -> (text, title), or ``Skip`` with a reason the status table shows.

Formats: plain text and source code, Markdown, reStructuredText, HTML (text only),
PDF (pypdf), DOCX (python-docx). Anything else is indexed as text if it decodes.

Text, source code, Markdown, reST, HTML and DOCX are read in time linear in the file's size (no
backtracking regex sees more than one bounded title line): HTML by ``html_text``, DOCX by ``docx_text``
(a file that would unpack past its bound is skipped as ``too_large``), titles in one pass over the
first ``TITLE_SCAN`` characters, line by line. PDF is pypdf's, bounded only by the size limit.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from .docx_text import docx_text
from .html_text import html_text
from .skip import Skip
from .titles import sphinx_markup

BINARY_SNIFF = 8192
TITLE_SCAN = 20000        # characters searched for a title
TITLE_MARKUP = 1000       # characters of a title line that markup reduction sees (titles keep 300)
# Bump whenever a file's extracted text may change: files skipped by an older extractor are retried.
# 2: mostly-UTF-8 text with a few invalid bytes decodes as UTF-8 (was cp1252)
# 3: HTML with an unknown ``<![…`` section is read (the stdlib parser gave up on the whole file)
EXTRACTOR_VERSION = 3


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
        text, title = docx_text(data)
    else:
        text = _decode(data)
        title = ""
        if suffix in (".html", ".htm", ".xhtml"):
            text, title = html_text(text)
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


_RST_UNDERLINE_CHARS = frozenset("=-~^\"'`#*+")
_RST_FIELD_TITLE = re.compile(r"^Title:\s*(.+)$", re.M)  # PEP-style header


def first_heading(text: str, suffix: str) -> str:
    """The document's first heading in its first ``TITLE_SCAN`` characters, found line by line."""
    head = text[:TITLE_SCAN]
    if suffix in (".md", ".markdown"):
        return plain_title(markdown_heading(head))
    if suffix in (".rst", ".txt"):
        field = _RST_FIELD_TITLE.search(head[:3000])
        if field:
            return plain_title(field.group(1))
        return plain_title(rst_heading(head))
    return ""


def markdown_heading(head: str) -> str:
    """The first ATX heading (``# Title #``): up to 3 spaces, 1-6 '#', a space, the title, closing '#'s.

    One pass over the lines; the regex it replaces (``^\\s{0,3}#{1,6}\\s+(.+?)\\s*#*\\s*$``) was cubic on a
    heading followed by a long run of spaces ("# a" + 3000 spaces + "x": 81 s).
    """
    for line in head.split("\n"):
        body = line.lstrip()
        if len(line) - len(body) > 3 or not body.startswith("#"):
            continue
        hashes = len(body) - len(body.lstrip("#"))
        rest = body[hashes:]
        if hashes > 6 or not rest[:1].isspace():
            continue
        rest = rest.strip()
        return rest.rstrip("#").rstrip() or rest[:1]
    return ""


def rst_heading(head: str) -> str:
    """The first reST section title: a line underlined by at least as many ``=-~^"'`#*+`` characters."""
    lines = head.split("\n")
    for title, underline in zip(lines, lines[1:]):
        title, underline = title.strip(), underline.rstrip()
        if (title and len(underline) >= max(3, len(title)) and set(underline) <= _RST_UNDERLINE_CHARS
                and set(title) - _RST_UNDERLINE_CHARS):
            return title
    return ""


_LONG_SPACE = re.compile(r"\s{3,}")
_ROLE = re.compile(r":[\w.+-]+:`([^`<]*?)(?:\s*<[^>]*>)?`")           # :mod:`unittest.mock`, :ref:`text <target>`
_LINK = re.compile(r"`([^`<]+?)\s*<[^>]*>`_{1,2}|\[([^\]]+)\]\([^)]*\)")  # `text <url>`_, [text](url)
_LITERAL = re.compile(r"``([^`]+)``|`([^`]+)`_{0,2}|\*\*(\S(?:[^*]*\S)?)\*\*|(?<![\w*])\*(\S(?:[^*]*\S)?)\*(?![\w*])")


def plain_title(title: str) -> str:
    """A heading as a reader sees it: reST roles, links, literals and emphasis reduced to their text.

    ":mod:`unittest.mock` --- mock object library" -> "unittest.mock — mock object library".
    """
    # the reductions below backtrack on long lines (titles keep 300 characters anyway); runs of 3+ spaces
    # read as two, which keeps what an escaped space ("\\ ") next to them means
    title = _LONG_SPACE.sub("  ", title)[:TITLE_MARKUP]
    title = _ROLE.sub(lambda m: m.group(1), sphinx_markup(title))
    title = _LINK.sub(lambda m: m.group(1) or m.group(2), title)
    title = _LITERAL.sub(lambda m: next(g for g in m.groups() if g is not None), title)
    title = re.sub(r"\s+---\s+", " — ", title)
    return " ".join(title.split())
