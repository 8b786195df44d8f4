"""HTML -> (text, title) in one forward pass, with the text and title ``html.parser.HTMLParser`` gives.

Why not ``HTMLParser`` itself: on markup that never closes (``"<a" * 100000``, ``"<!--x>" * n``, an
attribute quote left open) it scans to the end of the input again for every ``<``, so 200 KB took
66 s. This tokenizer follows the same grammar (the same start-tag, end-tag, comment, declaration and
``<script>``/``<style>`` rules, the same fallbacks at the end of the input), but:

* every search for a terminator (``>``, ``-->``, ``]]>``, a closing quote) remembers where it found
  one or that none exists, so no stretch of the input is searched twice for the same thing;
* a start tag's attributes are scanned one at a time and the positions where an attribute began are
  marked when the tag turns out unterminated; a later tag whose scan reaches such a mark would repeat
  that failed scan from there, so it fails at once (unterminated tags cost each character once, not
  once per ``<``);
* as a last resort, once failed scans add up to ``FAILED_SCAN_FACTOR`` times the input, start tags
  end at the next ``>`` (quotes no longer hide it).

Bound: time O(n) (at most ``FAILED_SCAN_FACTOR + 4`` regex steps per character, plus Python work
per tag and attribute); memory a few copies of the text and one byte per character. On well-formed
pages the output is exactly the stdlib parser's (``tests/test_extract_bounds.py`` compares both on
crafted, malformed and random pages).
"""
from __future__ import annotations

import re
from html import unescape

from .html_sink import TextSink

FAILED_SCAN_FACTOR = 4     # failed start-tag scans may read this many times the input before the fallback

# The stdlib parser's own patterns (Python 3.11 html.parser / _markupbase), split where it backtracks.
_TAG_NAME_RUN = re.compile(r"[^\t\n\r\f />\x00]*")
_TAGFIND = re.compile(r"([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*")
_ENDTAGFIND = re.compile(r"</\s*([a-zA-Z][-.a-zA-Z0-9:_]*)\s*>")
_WS = re.compile(r"\s*")
_WS_SLASH = re.compile(r"[\s/]*")
_NAME_FOLLOWS = re.compile(r"['\"\s/]")          # the lookbehind before an attribute name
_ATTR_NAME = re.compile(r"[^\s/>][^\s/=>]*")
_EQUALS = re.compile(r"=+")
_BARE_VALUE = re.compile(r"[^>\s]*")
_AFTER_ATTR = re.compile(r"(?:\s|/(?!>))*")
_COMMENT_CLOSE = re.compile(r"--\s*>")
_DECL_NAME = re.compile(r"[a-zA-Z][-_.a-zA-Z0-9]*\s*")
_MARKED_CLOSE = re.compile(r"]\s*]\s*>")
_MS_MARKED_CLOSE = re.compile(r"]\s*>")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
CDATA_ELEMENTS = ("script", "style")


class _Finder:
    """``source.find(needle, start)`` (or a regex search) that never searches the same stretch twice.

    It keeps the last hit and the lowest position known to have no hit after it; callers ask from
    positions that mostly grow, so the searches over a whole document add up to O(n).
    """

    def __init__(self, source: str, needle: str | re.Pattern):
        self.source, self.needle = source, needle
        self.hit_from, self.hit = -1, None     # the first match at or after hit_from is ``hit``
        self.none_after = len(source) + 1      # no match starts at or after this position

    def __call__(self, start: int) -> tuple[int, int] | None:
        """(start, end) of the first match at or after ``start``, or None."""
        if start >= self.none_after:
            return None
        if self.hit is not None and self.hit_from <= start <= self.hit[0]:
            return self.hit
        if isinstance(self.needle, str):      # searched only up to where no match is known to start
            stop = len(self.source) if self.none_after > len(self.source) else self.none_after + len(self.needle) - 1
            at = self.source.find(self.needle, start, stop)
            found = None if at < 0 else (at, at + len(self.needle))
        else:                                 # regexes are asked from the main loop's growing position
            match = self.needle.search(self.source, start)
            found = None if match is None else match.span()
        if found is None:
            self.none_after = start
            return None
        self.hit_from, self.hit = start, found
        return found


class HTMLText:
    """One document: ``HTMLText(source).run()`` -> (text, title)."""

    def __init__(self, source: str, sink: TextSink | None = None):
        self.s, self.n = source, len(source)
        self.sink = sink or TextSink()
        self.cdata: str | None = None
        self.failed_work = 0
        self.heads = bytearray(self.n + 1)   # 1: an attribute scan was here (2: and that scan failed)
        self.work_limit = FAILED_SCAN_FACTOR * self.n + 100_000
        self.gt = _Finder(source, ">")
        self.quote = {"'": _Finder(source, "'"), '"': _Finder(source, '"')}
        self.comment_close = _Finder(source, _COMMENT_CLOSE)
        self.marked_close = _Finder(source, _MARKED_CLOSE)
        self.ms_marked_close = _Finder(source, _MS_MARKED_CLOSE)
        self.cdata_close: _Finder | None = None

    # ------------------------------------------------------------------ the main loop (HTMLParser.goahead)
    def run(self) -> tuple[str, str]:
        s, n, i, sink = self.s, self.n, 0, self.sink
        while i < n:
            if self.cdata is None:
                j = s.find("<", i)
                if j < 0:
                    j = n
            else:
                hit = self.cdata_close(i)
                if hit is None:
                    break                               # an unclosed <script>: the rest is dropped
                j = hit[0]
            if i < j:
                sink.handle_data(unescape(s[i:j]) if self.cdata is None else s[i:j])
            i = j
            if i == n:
                break
            k = self._markup(i)
            if k == -2:                                # a lone '<' as the last character
                break
            if k < 0:                                  # unterminated: text up to the next '>' (or '<')
                gt = self.gt(i + 1)
                if gt is None:
                    k = s.find("<", i + 1)
                    k = i + 1 if k < 0 else k
                else:
                    k = gt[0] + 1
                sink.handle_data(unescape(s[i:k]) if self.cdata is None else s[i:k])
            i = k
        if i < n and self.cdata is None:
            sink.handle_data(unescape(s[i:n]))
        return sink.result()

    def _markup(self, i: int) -> int:
        """End of the markup at ``i`` (a '<'); -1: not terminated; -2: nothing more to read."""
        s = self.s
        nxt = s[i + 1:i + 2]
        if nxt in _LETTERS:
            return self._start_tag(i)
        if nxt == "/":
            return self._end_tag(i)
        if s.startswith("<!--", i):
            hit = self.comment_close(i + 4)
            return -1 if hit is None else hit[1]
        if nxt == "?":
            gt = self.gt(i + 2)
            return -1 if gt is None else gt[1]
        if nxt == "!":
            return self._declaration(i)
        if i + 1 < self.n:
            self.sink.handle_data("<")
            return i + 1
        return -2

    # ------------------------------------------------------------------ start tags
    def _start_tag(self, i: int) -> int:
        s = self.s
        if self.failed_work > self.work_limit:
            return self._start_tag_fallback(i)
        attrs_start, attrs_end, j = self._locate_end(i)
        end = -1 if j < 0 else self._whole_tag_end(i, j)   # j < 0: reached where an earlier scan failed
        if end < 0:
            scanned = max(j, attrs_end) + 1
            self.failed_work += scanned - i
            self.heads[attrs_start:scanned] = self.heads[attrs_start:scanned].replace(b"\x01", b"\x02")
            return -1
        match = _TAGFIND.match(s, i + 1)
        tag = match.group(1).lower()
        k = match.end()
        if k == attrs_start and attrs_end < end:   # the same attributes from the same place: same end
            k = attrs_end
        while k < end:
            after = self._attribute(k)
            if after < 0:
                break
            k = after
        rest = s[k:end].strip()
        if rest not in (">", "/>"):
            self.sink.handle_data(s[i:end])
            return end
        self._open(tag, empty=rest.endswith("/>"))
        return end

    def _start_tag_fallback(self, i: int) -> int:
        """After too many failed scans: the tag ends at the next '>', whatever the quotes say."""
        gt = self.gt(i + 1)
        if gt is None:
            return -1
        self._open(_TAGFIND.match(self.s, i + 1).group(1).lower(), empty=self.s[gt[0] - 1] == "/")
        return gt[1]

    def _open(self, tag: str, empty: bool) -> None:
        if empty:
            self.sink.handle_startendtag(tag, [])
            return
        self.sink.handle_starttag(tag, [])
        if tag in CDATA_ELEMENTS:
            self.cdata = tag
            self.cdata_close = _Finder(self.s, re.compile(r"</\s*%s\s*>" % tag, re.I))

    def _locate_end(self, i: int) -> tuple[int, int, int]:
        """Where ``locatestarttagend_tolerant`` stops (tag name, ``[\\s/]*``, attributes, ``\\s*``), with
        where its attributes start and end. The stop is -1 when the scan reached an attribute start where an
        earlier scan failed: the rest would repeat that scan, so it fails the same way."""
        s, heads = self.s, self.heads
        q = start = _WS_SLASH.match(s, _TAG_NAME_RUN.match(s, i + 2).end()).end()
        while True:
            if heads[q] == 2:                       # from here on the same as a scan that failed
                return start, q, -1
            heads[q] = 1
            after = self._attribute(q)
            if after < 0:
                break
            q = after
        return start, q, _WS.match(s, q).end()

    def _whole_tag_end(self, i: int, j: int) -> int:
        """``check_for_whole_start_tag``: the tag's end, or -1 where the input ends inside it."""
        nxt = self.s[j:j + 1]
        if nxt == ">":
            return j + 1
        if nxt == "/":
            return j + 2 if self.s.startswith("/>", j) else -1
        if nxt == "" or nxt in _LETTERS or nxt == "=":
            return -1
        return j

    def _attribute(self, q: int) -> int:
        """End of one attribute (name, optional ``=value``, trailing space and '/') at ``q``, else -1."""
        s = self.s
        if q == 0 or q >= self.n:
            return -1
        before = s[q - 1]
        if before not in "'\"/" and not before.isspace():      # the name's lookbehind ['"\s/]
            return -1
        name = _ATTR_NAME.match(s, q)
        if name is None:
            return -1
        r = name.end()
        quote = s[r + 1:r + 2]
        if s.startswith("=", r) and quote in ("'", '"') and quote:   # the usual name="value": one '=', a quote
            close = self.quote[quote](r + 2)
            if close is not None:
                return _AFTER_ATTR.match(s, close[1]).end()
        value_end = self._value_group(r)
        return _AFTER_ATTR.match(s, r if value_end < 0 else value_end).end()

    def _value_group(self, r: int) -> int:
        """``\\s*=+\\s*VALUE\\s*`` at ``r`` with the regex's backtracking order, else -1."""
        s = self.s
        eq_start = _WS.match(s, r).end()
        if not s.startswith("=", eq_start):
            return -1
        eq_end = _EQUALS.match(s, eq_start).end()
        value_start = _WS.match(s, eq_end).end()
        end = self._value(value_start)
        if end < 0:
            if value_start > eq_end:        # one space less: an empty bare value before the space
                end = value_start - 1
            elif eq_end - eq_start >= 2:    # one '=' less: a bare value starting with '='
                end = _BARE_VALUE.match(s, eq_end - 1).end()
            else:
                return -1
        return _WS.match(s, end).end()

    def _value(self, p: int) -> int:
        """A quoted value (closed) or a bare one at ``p``; -1 for a quote that never closes."""
        c = self.s[p:p + 1]
        if c in ("'", '"') and c:
            close = self.quote[c](p + 1)
            return -1 if close is None else close[1]
        return _BARE_VALUE.match(self.s, p).end()

    # ------------------------------------------------------------------ end tags, declarations
    def _end_tag(self, i: int) -> int:
        s = self.s
        gt = self.gt(i + 1)
        if gt is None:
            return -1
        gtpos = gt[1]
        match = _ENDTAGFIND.match(s, i)
        if not match:
            if self.cdata is not None:
                self.sink.handle_data(s[i:gtpos])
                return gtpos
            name = _TAGFIND.match(s, i + 2)
            if not name:
                return i + 3 if s.startswith("</>", i) else self._bogus_comment(i)
            self.sink.handle_endtag(name.group(1).lower())
            close = self.gt(name.end())
            return close[1] if close else 0  # a '>' exists at gtpos, so close is never None
        elem = match.group(1).lower()
        if self.cdata is not None and elem != self.cdata:
            self.sink.handle_data(s[i:gtpos])
            return gtpos
        self.sink.handle_endtag(elem)
        self.cdata, self.cdata_close = None, None
        return gtpos

    def _bogus_comment(self, i: int) -> int:
        gt = self.gt(i + 2)
        return -1 if gt is None else gt[1]

    def _declaration(self, i: int) -> int:
        """``<!DOCTYPE …>``, ``<![CDATA[…]]>`` and other ``<!…>``; an unknown marked section (an
        ``AssertionError`` in the stdlib parser, which lost the whole file) is read as a bogus comment."""
        s = self.s
        if s.startswith("<![", i):
            if i + 3 == self.n:
                return -1
            m = _DECL_NAME.match(s, i + 3)
            if m and m.end() == self.n:
                return -1
            name = m.group().strip().lower() if m else ""
            if name in {"temp", "cdata", "ignore", "include", "rcdata"}:
                hit = self.marked_close(i + 3)
            elif name in {"if", "else", "endif"}:
                hit = self.ms_marked_close(i + 3)
            else:
                return self._bogus_comment(i)
            return -1 if hit is None else hit[1]
        if s[i:i + 9].lower() == "<!doctype":
            gt = self.gt(i + 9)
            return -1 if gt is None else gt[1]
        return self._bogus_comment(i)


def html_text(source: str) -> tuple[str, str]:
    """(text, title) of an HTML document; time linear in its length (see the module docstring)."""
    return HTMLText(source).run()
