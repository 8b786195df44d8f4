"""Walk a folder: include/exclude globs, hidden files, symlink loops, special files.

Yields ``FileEntry`` (stat only, nothing is read here) or ``Problem`` for entries
that cannot be indexed at all (special files, broken links, unreadable folders),
in a stable sorted order so runs are reproducible.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import UsageError

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".xhtml", ".pdf", ".docx", ".py", ".js",
                 ".ts", ".java", ".c", ".h", ".cpp", ".hpp", ".cc", ".rs", ".go", ".rb", ".sh", ".toml", ".yaml",
                 ".yml", ".json", ".ini", ".cfg", ".tex", ".csv", ".tsv", ".sql", ".css", ".scala", ".kt", ".swift",
                 ".r", ".jl", ".lua", ".php", ".pl", ".org", ".adoc", ".text", ""}


@dataclass(frozen=True)
class FileEntry:
    rel: str            # '/'-separated path relative to the root
    path: Path
    size: int
    mtime_ns: int
    ctime_ns: int = 0   # with ``mode``: a chmod/chown changes them, so a skip as unreadable is retried
    mode: int = 0


@dataclass(frozen=True)
class Problem:
    rel: str
    reason: str
    detail: str


def printable_name(name: str) -> str | None:
    """``None`` for a valid UTF-8 name; else the name with its undecodable bytes written as ``\\xNN``.

    ``os.scandir`` hands such bytes over as lone surrogates, which SQLite (and every later
    ``str.encode``) refuses, so the file is reported under this escaped, storable name instead.
    """
    try:
        name.encode("utf-8")
        return None
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern:
    """Shell-style glob over '/' paths: ``*`` stays inside a folder, ``**`` crosses folders, ``[0-3]``
    and ``[!a]`` are character classes (as in ``fnmatch``; they used to match a literal '[')."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and _class_end(pattern, i) > 0:
            end = _class_end(pattern, i)
            out.append(_class_regex(pattern[i + 1:end]))
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    try:
        return re.compile("".join(out) + r"\Z")
    except re.error as err:  # e.g. a reversed range '[z-a]'
        raise UsageError(f"invalid glob '{pattern}': {err.msg}") from None


def _class_end(pattern: str, start: int) -> int:
    """Index of the ']' closing the character class opened at ``start`` (-1: a literal '[').

    As in the shell, a ']' right after '[' or '[!' belongs to the class.
    """
    i = start + 1
    if i < len(pattern) and pattern[i] in "!^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    end = pattern.find("]", i)
    return end


def _class_regex(body: str) -> str:
    """Shell class body ('0-3', '!abc') -> regex class; a class never matches '/'."""
    negate = body[:1] in ("!", "^")
    body = body[1:] if negate else body
    escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
    return f"[^/{escaped}]" if negate else f"(?!/)[{escaped}]"


def glob_match(rel: str, pattern: str) -> bool:
    """A pattern without '/' matches the file name at any depth ('*.md'); otherwise the whole path."""
    if "/" not in pattern:
        return bool(_glob_regex(pattern).match(rel.rsplit("/", 1)[-1]))
    return bool(_glob_regex(pattern.lstrip("/")).match(rel))


class Walker:
    def __init__(self, root: Path, include: Sequence[str] = (), exclude: Sequence[str] = (),
                 hidden: bool = False, all_suffixes: bool = False, skip_paths: Sequence[Path] = ()):
        self.root = Path(root).expanduser().resolve()
        self.include, self.exclude, self.hidden = list(include), list(exclude), hidden
        self.all_suffixes = all_suffixes or bool(include)  # explicit includes decide by themselves
        self.skip = {Path(p).resolve() for p in skip_paths}

    def wanted(self, rel: str) -> bool:
        if any(glob_match(rel, p) for p in self.exclude):
            return False
        if self.include:
            return any(glob_match(rel, p) for p in self.include)
        return self.all_suffixes or os.path.splitext(rel)[1].lower() in TEXT_SUFFIXES

    def _dir_excluded(self, rel: str) -> bool:
        return any(glob_match(rel, p) or glob_match(rel + "/", p) for p in self.exclude if "/" in p)

    def __iter__(self) -> Iterator[FileEntry | Problem]:
        seen_dirs: set[tuple[int, int]] = set()
        yield from self._walk(self.root, "", seen_dirs)

    def _walk(self, directory: Path, prefix: str, seen: set[tuple[int, int]]) -> Iterator[FileEntry | Problem]:
        try:
            info = directory.stat()
            if (info.st_dev, info.st_ino) in seen:  # a symlink loop or a second link to the same folder
                return
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            yield Problem(prefix.rstrip("/") or ".", "unreadable", f"folder: {err.strerror or err}")
            return
        for entry in entries:
            rel = prefix + entry.name
            if not self.hidden and entry.name.startswith("."):
                continue
            escaped = printable_name(entry.name)
            if escaped is not None:  # before anything stores the name: one such file must not stop a run
                if self.wanted(rel) or entry.is_dir():
                    yield Problem(prefix + escaped, "bad_name", "file name is not valid UTF-8")
                continue
            try:
                st = os.stat(entry.path)  # follows symlinks
            except OSError as err:
                if self.wanted(rel):
                    why = "broken symlink" if entry.is_symlink() else (err.strerror or str(err))
                    yield Problem(rel, "unreadable", why)
                continue
            if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(self.root):
                # the index (and the UI showing it) must never hold text from outside the folder
                if self.wanted(rel) or stat.S_ISDIR(st.st_mode):
                    yield Problem(rel, "outside_root", "symlink to a path outside the indexed folder")
                continue
            if stat.S_ISDIR(st.st_mode):
                if not self._dir_excluded(rel) and Path(entry.path).resolve() not in self.skip:
                    yield from self._walk(Path(entry.path), rel + "/", seen)
            elif not self.wanted(rel):
                continue
            elif stat.S_ISREG(st.st_mode):
                yield FileEntry(rel, Path(entry.path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
            else:
                yield Problem(rel, "unreadable", "not a regular file (FIFO, socket or device)")
