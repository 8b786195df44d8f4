"""Path globs matched in time linear in the path: ``*`` within a folder, ``**`` across folders, ``**/`` zero or
more folders, ``?`` one character, ``[0-3]``/``[!a]`` classes (as in ``fnmatch``; never matching '/').

Why not a regex: a glob with several stars became a backtracking regex, so ``"**?" * 8 + "!"`` took 201 s
on 50 long names (and held the server's lock meanwhile). Here the pattern is a small automaton whose
set of live states advances one character at a time (a lazily built DFA, so a path costs one dict
lookup per character once warm): O(len(path) * len(pattern)) at worst, never exponential. Patterns
are at most ``MAX_PATTERN`` characters (a one-line ``UsageError`` names a longer one).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import UsageError

MAX_PATTERN = 1000
_TRANSITIONS = 4096        # transitions cached per pattern (~0.6 MB); past that the cache starts over

# token kinds
_LIT, _ONE, _CLASS, _SEG, _ANY, _DIRS = range(6)


@dataclass(frozen=True)
class _Token:
    kind: int
    char: str = ""
    cls: re.Pattern | None = None

    def accepts(self, c: str) -> bool:
        """Does this single-character token consume ``c``?"""
        if self.kind == _LIT:
            return c == self.char
        if self.kind == _ONE:
            return c != "/"
        return bool(self.cls.match(c))


def _tokens(pattern: str) -> list[_Token]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append(_Token(_DIRS))
            i += 3
        elif pattern.startswith("**", i):
            out.append(_Token(_ANY))
            i += 2
        elif pattern[i] == "*":
            out.append(_Token(_SEG))
            i += 1
        elif pattern[i] == "?":
            out.append(_Token(_ONE))
            i += 1
        elif pattern[i] == "[" and _class_end(pattern, i) > 0:
            end = _class_end(pattern, i)
            try:
                cls = re.compile(_class_regex(pattern[i + 1:end]))
            except re.error as err:  # e.g. a reversed range '[z-a]'
                raise UsageError(f"invalid glob '{pattern}': {err.msg}") from None
            out.append(_Token(_CLASS, cls=cls))
            i = end + 1
        else:
            out.append(_Token(_LIT, char=pattern[i]))
            i += 1
    return out


def _class_end(pattern: str, start: int) -> int:
    """Index of the ']' closing the character class opened at ``start`` (-1: a literal '[').

    As in the shell, a ']' right after '[' or '[!' belongs to the class.
    """
    i = start + 1
    if i < len(pattern) and pattern[i] in "!^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    return pattern.find("]", i)


def _class_regex(body: str) -> str:
    """Shell class body ('0-3', '!abc') -> regex class for one character; a class never matches '/'."""
    negate = body[:1] in ("!", "^")
    body = body[1:] if negate else body
    escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
    return f"[^/{escaped}]" if negate else f"(?!/)[{escaped}]"


class GlobMatcher:
    """One compiled glob. NFA states: ``k`` = before token ``k`` (``len(tokens)`` accepts); a ``**/`` at
    ``k`` also has an inner state ``len(tokens) + 1 + k`` (inside its ``.*/``)."""

    def __init__(self, pattern: str):
        if len(pattern) > MAX_PATTERN:
            raise UsageError(f"glob '{pattern[:60]}…' is {len(pattern)} characters; "
                             f"at most {MAX_PATTERN} are allowed")
        self.tokens = _tokens(pattern)
        self.size = len(self.tokens)
        self.accept = 1 << self.size
        self.start = self._closure(1)
        self.cache: dict[tuple[int, str], int] = {}

    def _closure(self, states: int) -> int:
        """Add the states reachable without reading: past stars (empty) and past a skipped ``**/``."""
        todo = states
        while todo:
            k = (todo & -todo).bit_length() - 1
            todo &= todo - 1
            if k < self.size and self.tokens[k].kind in (_SEG, _ANY, _DIRS) and not states >> (k + 1) & 1:
                states |= 1 << (k + 1)
                todo |= 1 << (k + 1)
        return states

    def _step(self, states: int, c: str) -> int:
        out, todo = 0, states
        while todo:
            bit = todo & -todo
            todo ^= bit
            k = bit.bit_length() - 1
            if k > self.size:                       # inside a '**/' (token k - size - 1)
                out |= bit
                if c == "/":
                    out |= 1 << (k - self.size)
                continue
            if k == self.size:
                continue
            token = self.tokens[k]
            if token.kind == _ANY or (token.kind == _SEG and c != "/"):
                out |= bit
            elif token.kind == _DIRS:
                out |= 1 << (self.size + 1 + k)
                if c == "/":
                    out |= 1 << (k + 1)
            elif token.kind not in (_SEG, _ANY) and token.accepts(c):
                out |= 1 << (k + 1)
        return self._closure(out) if out else 0

    def match(self, text: str) -> bool:
        states, cache = self.start, self.cache
        for c in text:
            nxt = cache.get((states, c))
            if nxt is None:
                if len(cache) >= _TRANSITIONS:
                    cache.clear()
                nxt = cache[(states, c)] = self._step(states, c)
            states = nxt
            if not states:
                return False
        return bool(states & self.accept)


@lru_cache(maxsize=128)     # with _TRANSITIONS: under ~80 MB however many patterns a server is sent
def compile_glob(pattern: str) -> GlobMatcher:
    """The matcher for ``pattern`` (cached: the same filter is applied to every document)."""
    return GlobMatcher(pattern)


def glob_match(rel: str, pattern: str) -> bool:
    """A pattern without '/' matches the file name at any depth ('*.md'); otherwise the whole path."""
    if "/" not in pattern:
        return compile_glob(pattern).match(rel.rsplit("/", 1)[-1])
    return compile_glob(pattern.lstrip("/")).match(rel)
